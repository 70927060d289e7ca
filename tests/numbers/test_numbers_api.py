from __future__ import annotations

import numpy as np

from app.config import Config
from app.numbers.numbers_api import SimulatedNumbers, numbers_source
from app.numbers.pacing import Pacer
from tests.sources import LoopTurns


async def collect(source: SimulatedNumbers) -> list[np.ndarray]:
    async with source.request(None, Pacer()) as reply:
        assert reply.chunks is not None
        return [chunk async for chunk in reply.chunks]  # type: ignore[misc]


async def test_simulated_numbers() -> None:
    """Simulated numbers are 0 to count - 1, in compact chunks."""
    chunks = await collect(SimulatedNumbers(count=1000, delay=0, chunk_size=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert all(c.dtype == np.int32 for c in chunks)
    assert np.concatenate(chunks).tolist() == list(range(1000))


def test_simulated_int64() -> None:
    """Simulated numbers beyond int32 come as int64."""
    assert SimulatedNumbers(count=2**31 + 1, delay=0).dtype == np.int64


async def test_simulated_count_zero() -> None:
    """A simulated count of zero delivers nothing."""
    assert await collect(SimulatedNumbers(count=0, delay=0)) == []


async def test_simulated_delay_does_not_block() -> None:
    """The simulated delay does not block the event loop."""
    async with LoopTurns(interval=0.001) as ticks:
        (first,) = await collect(SimulatedNumbers(count=1, delay=0.05))
    assert first.tolist() == [0]
    assert ticks.count > 5


def test_default_backend_is_simulated() -> None:
    """The default backend is the simulated one, from the config."""
    source = numbers_source(Config(numbers_api_count=7, numbers_api_delay=0.5))
    assert isinstance(source, SimulatedNumbers)
    assert (source.count, source.delay) == (7, 0.5)
