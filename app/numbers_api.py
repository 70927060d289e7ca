"""The backend client: where the numbers come from, chosen in one place from the config."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

from app.config import Config
from app.exact_sum import Chunk

# 128K numbers (512 KiB of int32) per chunk: making and summing one takes about 70 us
# and it stays in the CPU's cache; larger chunks measured slower.
SIMULATED_CHUNK_SIZE = 131_072


class NumbersSource(Protocol):
    """A backend of numbers; `open` and `close` bracket the time the server is serving."""

    description: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def chunks(self) -> AsyncIterator[Chunk]:
        """Fetch the numbers once, delivering them chunk by chunk."""
        ...


class SimulatedNumbers:
    """The embedded backend: after `delay` seconds it delivers the numbers 0..count-1."""

    def __init__(self, count: int, delay: float, chunk_size: int = SIMULATED_CHUNK_SIZE) -> None:
        self.count = count
        self.delay = delay
        self.chunk_size = chunk_size
        self.description = f"simulated backend ({count} numbers after {delay} s)"
        # The narrowest type that holds every number: int32 halves the memory traffic.
        self.dtype = np.int32 if count <= 2**31 else np.int64

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chunks(self) -> AsyncIterator[Chunk]:
        await asyncio.sleep(self.delay)
        # Made chunk by chunk, so memory does not grow with the count.
        for start in range(0, self.count, self.chunk_size):
            yield np.arange(start, min(start + self.chunk_size, self.count), dtype=self.dtype)


def numbers_source(config: Config) -> NumbersSource:
    """The backend the configuration asks for."""
    return SimulatedNumbers(config.numbers_api_count, config.numbers_api_delay)
