"""Totals: a fetch summed within the deadline, sharing the loop, closed however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import (
    BackendConnectionError,
    BackendDataError,
    BackendError,
    BackendStatusError,
    BackendTimeoutError,
    BackendUnavailableError,
    UnexpectedFetchError,
)
from app.numbers.events import FetchObserver, FetchReport, HowAnswered
from app.numbers.exact_sum import Chunk
from app.numbers.fetch import FetchFailedError
from app.numbers.freshness import Freshness
from app.numbers.numbers_api import NumbersSource, Reply, Validator
from app.numbers.pacing import HAND_BACK_LIMIT, TURNS_PER_YIELD, YIELD_INTERVAL, Pacer
from app.numbers.totals import ShuttingDownError, Totals
from tests.sources import Clock, FailingSource, FlakySource, LoopTurns, NumberedSource, hold_the_cpu


class BusySource:
    """Delivers `chunks` chunks without ever waiting on I/O, each after `busy` seconds of CPU work;
    then, if `stall`, waits for ever. Records whether its generator was closed."""

    description = "busy test backend"

    def __init__(self, chunks: int, busy: float = 0.0, stall: bool = False) -> None:
        self.count = chunks
        self.busy = busy
        self.stall = stall
        self.closed = False

    async def serving(self) -> AsyncGenerator[None, None]:
        yield

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        yield Reply(None, self._chunks())

    async def _chunks(self) -> AsyncGenerator[Chunk, None]:
        try:
            for _ in range(self.count):
                hold_the_cpu(self.busy)  # as parsing a piece is
                yield np.ones(10, dtype=np.int64)
            if self.stall:
                await asyncio.Event().wait()
        finally:
            self.closed = True


def totals_of(source: NumbersSource, deadline: float, **options: Any) -> Totals:
    """Totals whose circuit breaker never opens."""
    return Totals(source, deadline, CircuitBreaker(threshold=0, cooldown=1.0), **options)


async def test_the_total_of_the_chunks() -> None:
    answer = await totals_of(BusySource(7), deadline=5).current()
    assert (answer.fetched.total, answer.how_answered) == (70, "started")
    report = answer.fetched.report
    assert (report.outcome, report.count, report.attempts, report.error) == ("ok", 70, 1, None)
    assert len(report.fetch_id) == 16
    assert 0 < answer.fetched.summing_seconds <= report.seconds


async def test_fetch_id_shared_by_callers() -> None:
    """Each fetch has its own id, and its callers share it."""
    totals = totals_of(BusySource(3, busy=0.001), deadline=5)
    shared = await asyncio.gather(*(totals.current() for _ in range(3)))
    assert [answer.how_answered for answer in shared] == ["started", "joined", "joined"]
    assert len({answer.fetched.report.fetch_id for answer in shared}) == 1
    later = await totals.current()
    assert later.how_answered == "started"
    assert later.fetched.report.fetch_id != shared[0].fetched.report.fetch_id


class Recorder(FetchObserver):
    """Every event, in order, as a tuple."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def total_requested(self, how: HowAnswered) -> None:
        self.events.append(("requested", how))

    def fetch_started(self, fetch_id: str, source: str) -> None:
        self.events.append(("started", fetch_id, source))

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        self.events.append(("retried", fetch_id, attempt, of, str(error)))

    def fetch_ended(self, report: FetchReport) -> None:
        self.events.append(("ended", report.fetch_id, report.outcome, report.count, report.attempts))

    def breaker_opened(self, failures: int, cooldown: float) -> None:
        self.events.append(("opened", failures, cooldown))

    def breaker_closed(self) -> None:
        self.events.append(("closed",))


async def test_observer_sees_each_fetch_once() -> None:
    """A success, a failure that opens the breaker, and the success that closes it: each
    reported once, in order, with the fetch's own id."""
    recorder, clock = Recorder(), Clock()
    source = NumberedSource(failing=[2])
    breaker = CircuitBreaker(threshold=1, cooldown=2.0, clock=clock)
    totals = Totals(source, 5.0, breaker, observer=recorder, clock=clock)
    first = await totals.current()
    with pytest.raises(FetchFailedError) as failed:
        await totals.current()
    clock.now += 2.0
    third = await totals.current()
    ids = [first.fetched.report.fetch_id, failed.value.report.fetch_id, third.fetched.report.fetch_id]
    assert recorder.events == [
        ("requested", "started"),
        ("started", ids[0], "test backend"),
        ("ended", ids[0], "ok", 1, 1),
        ("requested", "started"),
        ("started", ids[1], "test backend"),
        ("ended", ids[1], "bad_status", 0, 1),
        ("opened", 1, 2.0),
        ("requested", "started"),
        ("started", ids[2], "test backend"),
        ("ended", ids[2], "ok", 1, 1),
        ("closed",),
    ]
    assert isinstance(failed.value.error, BackendStatusError)
    assert failed.value.report.error is failed.value.error


async def test_retryable_failures_asked_again() -> None:
    """Retryable failures are asked again, up to `retries` times, each reported."""
    recorder = Recorder()
    unreachable = BackendConnectionError("the numbers backend could not be reached", retryable=True)
    source = FlakySource([unreachable, BackendStatusError(503)])
    answer = await totals_of(source, 5.0, retries=2, observer=recorder).current()
    fetch_id = answer.fetched.report.fetch_id
    assert (answer.fetched.total, answer.fetched.report.attempts, source.fetches) == (5, 3, 3)
    assert [event for event in recorder.events if event[0] == "retried"] == [
        ("retried", fetch_id, 1, 2, "the numbers backend could not be reached"),
        ("retried", fetch_id, 2, 2, "the numbers backend answered HTTP 503"),
    ]


@pytest.mark.parametrize(
    ("errors", "retries", "attempts"),
    [
        ([BackendStatusError(503)] * 3, 2, 3),  # retries used up
        ([BackendStatusError(500)], 2, 1),  # a status not worth asking again
        ([BackendConnectionError("broke mid-body")], 2, 1),  # not retryable: a body was read
        ([BackendDataError("the body is not a JSON array")], 2, 1),
    ],
)
async def test_failures_not_asked_again(errors: list[BackendError], retries: int, attempts: int) -> None:
    source = FlakySource(list(errors))
    with pytest.raises(FetchFailedError) as failed:
        await totals_of(source, 5.0, retries=retries).current()
    assert (failed.value.report.attempts, source.fetches) == (attempts, attempts)
    assert failed.value.error is errors[-1]


async def test_unexpected_error_is_a_counted_failure() -> None:
    """An error the service did not foresee fails the fetch like any other: reported, counted
    by the breaker, answered 500 with the original kept as its cause."""
    recorder = Recorder()
    source = FailingSource(RuntimeError("a bug"))
    totals = Totals(source, 5.0, CircuitBreaker(threshold=2, cooldown=60), observer=recorder)
    for _ in range(2):
        with pytest.raises(FetchFailedError) as failed:
            await totals.current()
    error = failed.value.error
    assert isinstance(error, UnexpectedFetchError)
    assert (error.status, error.outcome, failed.value.report.outcome) == (500, "error", "error")
    assert isinstance(error.__cause__, RuntimeError)
    assert ("opened", 2, 60) in recorder.events
    with pytest.raises(BackendUnavailableError):  # the breaker answers for it now
        await totals.current()
    assert source.fetches == 2


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
    with pytest.raises(FetchFailedError) as failed:
        await totals_of(source, deadline=0.05).current()
    assert isinstance(failed.value.error, BackendTimeoutError)
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
    return Totals(source, 5.0, breaker, Freshness(max_age, stale), clock=clock)


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
    with pytest.raises(FetchFailedError, match="HTTP 500"):
        await totals.current()


async def test_open_breaker_starts_no_refresh() -> None:
    """An open breaker starts no refresh, and the stale total is still answered."""
    source, clock = NumberedSource(failing=[2]), Clock()
    totals = Totals(source, 5.0, CircuitBreaker(threshold=1, cooldown=60), Freshness(5, 10), clock=clock)
    await totals.current()
    clock.now += 6
    await totals.current()
    await asyncio.sleep(0.01)  # refresh 2 fails: the breaker opens
    answer = await totals.current()
    assert (answer.how_answered, answer.fetched.total, source.fetches) == ("stale", 1, 2)
