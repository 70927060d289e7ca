"""Totals: a fetch summed within the deadline, sharing the loop, closed however it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import numpy as np
import pytest

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendTimeoutError
from app.numbers.exact_sum import Chunk
from app.numbers.totals import TURNS_PER_YIELD, YIELD_INTERVAL, ShuttingDownError, Totals
from tests.sources import LoopTurns


class BusySource:
    """Delivers `chunks` chunks without ever waiting on I/O, each after `busy` seconds of CPU work;
    then, if `stall`, waits for ever. Records whether its generator was closed."""

    description = "busy test backend"
    retried = 0

    def __init__(self, chunks: int, busy: float = 0.0, stall: bool = False) -> None:
        self.count = chunks
        self.busy = busy
        self.stall = stall
        self.closed = False

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chunks(self) -> AsyncGenerator[Chunk, None]:
        try:
            for _ in range(self.count):
                busy_until = time.perf_counter() + self.busy
                while time.perf_counter() < busy_until:  # CPU work, as parsing a piece is
                    pass
                yield np.ones(10, dtype=np.int64)
            if self.stall:
                await asyncio.Event().wait()
        finally:
            self.closed = True


def totals_of(source: BusySource, deadline: float) -> Totals:
    """Totals whose circuit breaker never opens."""
    return Totals(source, deadline, CircuitBreaker(threshold=0, cooldown=1.0))


async def test_the_total_of_the_chunks() -> None:
    fetched, joined = await totals_of(BusySource(7), deadline=5).current()
    assert (fetched.total, joined) == (70, False)
    assert len(fetched.fetch_id) == 16
    assert fetched.summing > 0


async def test_each_fetch_has_its_own_id_and_its_callers_share_it() -> None:
    totals = totals_of(BusySource(3, busy=0.001), deadline=5)
    shared = await asyncio.gather(*(totals.current() for _ in range(3)))
    assert [joined for _, joined in shared] == [False, True, True]
    assert len({fetched.fetch_id for fetched, _ in shared}) == 1
    later, _ = await totals.current()
    assert later.fetch_id != shared[0][0].fetch_id


async def test_a_fetch_hands_the_loop_back_while_it_sums() -> None:
    source = BusySource(20, busy=2 * YIELD_INTERVAL)
    async with LoopTurns() as other_requests:
        fetched, _ = await totals_of(source, deadline=5).current()
        assert fetched.total == 200
    # The source never waits: without the yields the loop would not give a single turn.
    assert other_requests.count >= 10 * TURNS_PER_YIELD


@pytest.mark.parametrize(
    "source",
    [
        BusySource(1, stall=True),  # the deadline strikes while the source waits
        BusySource(10**9, busy=YIELD_INTERVAL),  # ... or while it is suspended at a chunk
    ],
)
async def test_the_source_is_closed_as_soon_as_the_deadline_ends_the_fetch(source: BusySource) -> None:
    with pytest.raises(BackendTimeoutError):
        await totals_of(source, deadline=0.05).current()
    assert source.closed


async def test_stop_answers_waiting_and_later_requests_with_shutting_down() -> None:
    source = BusySource(1, stall=True)
    totals = totals_of(source, deadline=30)
    waiting = [asyncio.create_task(totals.current()) for _ in range(3)]
    await asyncio.sleep(0.01)
    totals.stop()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [(type(r), str(r)) for r in results] == [
        (ShuttingDownError, "the service is shutting down before the numbers arrived")
    ] * 3
    with pytest.raises(ShuttingDownError, match=r"^the service is shutting down$"):
        await totals.current()
    await asyncio.sleep(0)  # the cancelled fetch closes its source
    assert source.closed
