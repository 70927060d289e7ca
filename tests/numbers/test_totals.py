"""Totals: a fetch summed within the deadline, sharing the loop, closed however it ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator

import numpy as np
import pytest
import structlog

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendStatusError, BackendTimeoutError
from app.numbers.exact_sum import Chunk
from app.numbers.freshness import Freshness
from app.numbers.numbers_api import Validator
from app.numbers.pacing import HAND_BACK_LIMIT, TURNS_PER_YIELD, YIELD_INTERVAL
from app.numbers.totals import ShuttingDownError, Totals
from tests.sources import Clock, LoopTurns, NumberedSource, hold_the_cpu


class BusySource:
    """Delivers `chunks` chunks without ever waiting on I/O, each after `busy` seconds of CPU work;
    then, if `stall`, waits for ever. Records whether its generator was closed."""

    description = "busy test backend"
    retried = 0
    validator: Validator | None = None

    def __init__(self, chunks: int, busy: float = 0.0, stall: bool = False) -> None:
        self.count = chunks
        self.busy = busy
        self.stall = stall
        self.closed = False

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        try:
            for _ in range(self.count):
                hold_the_cpu(self.busy)  # as parsing a piece is
                yield np.ones(10, dtype=np.int64)
            if self.stall:
                await asyncio.Event().wait()
        finally:
            self.closed = True


def totals_of(source: BusySource, deadline: float) -> Totals:
    """Totals whose circuit breaker never opens."""
    return Totals(source, deadline, CircuitBreaker(threshold=0, cooldown=1.0))


async def test_the_total_of_the_chunks() -> None:
    answer = await totals_of(BusySource(7), deadline=5).current()
    assert (answer.fetched.total, answer.how_answered) == (70, "started")
    assert len(answer.fetched.fetch_id) == 16
    assert answer.fetched.summing_seconds > 0


async def test_fetch_id_shared_by_callers() -> None:
    """Each fetch has its own id, and its callers share it."""
    totals = totals_of(BusySource(3, busy=0.001), deadline=5)
    shared = await asyncio.gather(*(totals.current() for _ in range(3)))
    assert [answer.how_answered for answer in shared] == ["started", "joined", "joined"]
    assert len({answer.fetched.fetch_id for answer in shared}) == 1
    later = await totals.current()
    assert later.how_answered == "started"
    assert later.fetched.fetch_id != shared[0].fetched.fetch_id


class FetchIdRecordingSource(NumberedSource):
    """A NumberedSource that records the fetch id bound for log lines while each fetch runs."""

    def __init__(self, failing: list[int]) -> None:
        super().__init__(failing)
        self.fetch_ids: list[object] = []

    async def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        self.fetch_ids.append(structlog.contextvars.get_contextvars().get("fetch_id"))
        async for chunk in super().chunks(known):
            yield chunk


async def test_fetch_logs_its_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each fetch logs its outcome, duration, count and retries under its own id."""
    caplog.set_level(logging.INFO, logger="app.numbers.totals")
    source = FetchIdRecordingSource(failing=[2])
    totals = Totals(source, 5.0, CircuitBreaker(threshold=0, cooldown=1.0))
    started = time.perf_counter()
    answer = await totals.current()
    with pytest.raises(BackendStatusError) as failed:
        await totals.current()
    elapsed = time.perf_counter() - started
    fetch_ids = [answer.fetched.fetch_id, failed.value.fetch_id]
    assert source.fetch_ids == fetch_ids
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("fetching")] == [
        f"fetching numbers from the {source.description} (fetch {fetch_id})" for fetch_id in fetch_ids
    ]
    summed, failure = (r for r in caplog.records if "outcome" in vars(r))
    assert summed.getMessage().startswith("summed 1 numbers in ")
    assert failure.getMessage().startswith("fetch failed after ")
    ok, bad = vars(summed), vars(failure)  # the fields given in `extra`
    assert (summed.levelno, ok["outcome"], ok["count"], ok["retries"]) == (logging.INFO, "ok", 1, 0)
    assert (failure.levelno, bad["outcome"], bad["retries"]) == (logging.WARNING, "bad_status", 0)
    assert 0 < ok["duration"] <= elapsed
    assert 0 < bad["duration"] <= elapsed
    assert 0 < answer.fetched.summing_seconds <= ok["duration"] + 1e-6


async def test_fetch_hands_loop_back() -> None:
    """A fetch hands the loop back while it sums."""
    source = BusySource(20, busy=2 * YIELD_INTERVAL)
    async with LoopTurns() as other_requests:
        answer = await totals_of(source, deadline=5).current()
        assert answer.fetched.total == 200
    # The source never waits: without the yields the loop would not give a single turn.
    assert other_requests.count >= 10 * TURNS_PER_YIELD


async def test_busy_loop_one_turn_per_slice() -> None:
    """On a busy loop, a fetch hands back one long turn per slice, not eight."""
    chunks = 5
    source = BusySource(chunks, busy=2 * YIELD_INTERVAL)
    async with LoopTurns(busy=HAND_BACK_LIMIT) as other_requests:
        answer = await totals_of(source, deadline=5).current()
    assert answer.fetched.total == 10 * chunks
    # Each of the other task's turns outlasts a slice of summing: a turn per slice, not 8.
    assert chunks <= other_requests.count <= 2 * chunks


@pytest.mark.parametrize(
    "source",
    [
        BusySource(1, stall=True),  # the deadline strikes while the source waits
        BusySource(10**9, busy=YIELD_INTERVAL),  # ... or while it is suspended at a chunk
    ],
)
async def test_source_closed_at_deadline(source: BusySource) -> None:
    """The source is closed as soon as the deadline ends the fetch."""
    with pytest.raises(BackendTimeoutError):
        await totals_of(source, deadline=0.05).current()
    assert source.closed


async def test_stop_answers_shutting_down() -> None:
    """stop() answers waiting and later requests with "shutting down"."""
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


def fresh_totals(source: NumberedSource, clock: Clock, max_age: float, stale: float = 0.0) -> Totals:
    breaker = CircuitBreaker(threshold=0, cooldown=1.0)
    return Totals(source, 5.0, breaker, Freshness(max_age, stale), clock)


async def test_within_max_age_no_fetch() -> None:
    """Within max age a total is answered without a fetch; past it, a fetch starts."""
    source, clock = NumberedSource(), Clock()
    totals = fresh_totals(source, clock, max_age=5)
    first = await totals.current()
    clock.now += 4.9
    again = await totals.current()
    assert (again.how_answered, again.fetched) == ("fresh", first.fetched)
    assert again.age == pytest.approx(4.9)
    clock.now += 0.2
    later = await totals.current()
    assert (later.how_answered, later.fetched.total, later.age) == ("started", 2, 0.0)
    assert source.fetches == 2


async def test_stale_window_answers_at_once() -> None:
    """In the stale window the total is answered at once while one refresh runs."""
    source, clock = NumberedSource(gate=asyncio.Event()), Clock()
    assert source.gate is not None
    totals = fresh_totals(source, clock, max_age=5, stale=10)
    source.gate.set()
    await totals.current()
    source.gate.clear()
    clock.now += 6
    stale = await asyncio.gather(*(totals.current() for _ in range(3)))
    assert [(answer.how_answered, answer.fetched.total) for answer in stale] == [("stale", 1)] * 3
    await source.fetching.wait()
    assert source.fetches == 2  # one refresh, however many stale answers
    source.gate.set()
    for _ in range(5):  # the refresh ends in a few turns of the loop
        await asyncio.sleep(0)
    refreshed = await totals.current()
    assert (refreshed.how_answered, refreshed.fetched.total) == ("fresh", 2)


async def test_failed_refresh_keeps_good_total() -> None:
    """A failed refresh keeps the good total inside the windows; the error comes after."""
    source, clock = NumberedSource(failing=[2, 3, 4]), Clock()
    totals = fresh_totals(source, clock, max_age=5, stale=10)
    await totals.current()
    fetched_at = clock.now
    for seconds in (6, 14.9):
        clock.now = fetched_at + seconds
        answer = await totals.current()
        assert (answer.how_answered, answer.fetched.total) == ("stale", 1)
        await asyncio.sleep(0.01)  # the refresh fails meanwhile
    assert source.fetches == 3
    clock.now = fetched_at + 15.1  # past both windows: the request waits for a fetch, and gets its error
    with pytest.raises(BackendStatusError):
        await totals.current()


async def test_open_breaker_starts_no_refresh() -> None:
    """An open breaker starts no refresh, and the stale total is still answered."""
    source, clock = NumberedSource(failing=[2]), Clock()
    totals = Totals(source, 5.0, CircuitBreaker(threshold=1, cooldown=60), Freshness(5, 10), clock)
    await totals.current()
    clock.now += 6
    await totals.current()
    await asyncio.sleep(0.01)  # refresh 2 fails: the breaker opens
    answer = await totals.current()
    assert (answer.how_answered, answer.fetched.total, source.fetches) == ("stale", 1, 2)
