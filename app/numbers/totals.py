"""The total of the backend's numbers, fetched once for all concurrent requests."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

import structlog

from app.numbers import metrics
from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendDataError, BackendError, BackendTimeoutError, BackendUnavailableError
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number
from app.numbers.freshness import NEVER, Freshness
from app.numbers.numbers_api import NumbersSource
from app.numbers.single_flight import SingleFlight

log = logging.getLogger(__name__)

# While summing, hand the event loop back at least this often: chunks may be ready
# without waiting on I/O, and other requests must not wait for a whole fetch.
YIELD_INTERVAL = 0.001
# ... for this many turns: a request needs a dozen turns of the loop to be read, routed
# and answered, so one turn per millisecond of summing made it wait for a dozen of them.
# Measured with a probe on /healthz every 10 ms while /total read 750,000 integers from
# the reference backend back to back: p99 21 ms at 1 turn, 9.6 ms at 4, 8.7 ms at 8.
# With nothing else to run, 8 turns instead of 1 made no difference above this machine's
# noise on the 10M-number fetch (README, "Known limits").
TURNS_PER_YIELD = 8


# ... or for this long, if the turns take longer: a loop busy with hundreds of clients took
# 120 ms a turn here, and 8 of them per millisecond of summing made a background refresh
# last 10 s (TOTAL_MAX_AGE's bench). Well above a turn that answers one request (about a
# millisecond here): a limit of 1 ms cut the hand-back short in the middle of a request and
# raised the probe's p99 during the wide-integer body from 14 to 24 ms.
HAND_BACK_LIMIT = 0.01


async def give_way() -> None:
    """Hand the loop back for TURNS_PER_YIELD turns, or for HAND_BACK_LIMIT if they take longer."""
    handed_back = time.perf_counter()
    for _ in range(TURNS_PER_YIELD):
        await asyncio.sleep(0)
        if time.perf_counter() - handed_back >= HAND_BACK_LIMIT:
            return


@dataclass(frozen=True)
class Fetched:
    """One fetch's total, with what the logs and Server-Timing tell of it."""

    total: Number
    fetch_id: str
    # Seconds spent adding the parsed numbers up (parsing is interleaved with the transfer).
    summing: float
    # When the fetch ended, on the clock of the Totals that made it.
    ended: float


@dataclass(frozen=True)
class Answer:
    """A request's total, and how it got it: it started a fetch, joined one running, or
    was answered at once from a recent fetch's total, fresh or stale."""

    fetched: Fetched
    via: Literal["started", "joined", "fresh", "stale"]
    # Seconds since the total's fetch ended.
    age: float


class ShuttingDownError(Exception):
    """The service is shutting down: the request will not get a total."""


class Totals:
    """Computes totals from `source` within `deadline` seconds; overlapping requests share a
    fetch, `breaker` answers for a backend that keeps failing, and within the `freshness`
    windows a recent total is answered without waiting."""

    def __init__(
        self,
        source: NumbersSource,
        deadline: float,
        breaker: CircuitBreaker,
        freshness: Freshness = NEVER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.deadline = deadline
        self.breaker = breaker
        self.freshness = freshness
        self._clock = clock
        self._flight = SingleFlight(self._fetch, patience=deadline)
        # The latest successful fetch: a failed one never replaces it.
        self._latest: Fetched | None = None
        self._stopped = False

    async def current(self) -> Answer:
        """A fresh or stale total within the freshness windows; otherwise the total of a
        fetch that ends after this call."""
        if self._stopped:
            raise ShuttingDownError("the service is shutting down")
        latest = self._latest
        if latest is not None:
            age = self._clock() - latest.ended
            state = self.freshness.state(age)
            if state != "expired":
                if state == "stale":
                    self._refresh()
                metrics.TOTAL_REQUESTS.labels(state).inc()
                return Answer(latest, state, age)
        self.breaker.check()
        via: Literal["started", "joined"] = "joined" if self._flight.running else "started"
        metrics.TOTAL_REQUESTS.labels(via).inc()
        with metrics.TOTAL_WAITING.track_inprogress():
            fetched = await self._flight.run()
        return Answer(fetched, via, self._clock() - fetched.ended)

    def _refresh(self) -> None:
        """Start a fetch for the requests to come, unless one runs or the breaker is open."""
        try:
            self.breaker.check()
        except BackendUnavailableError:
            return
        self._flight.start()

    def stop(self) -> None:
        """Answer every request still waiting for a fetch, and every later one, with ShuttingDownError."""
        self._stopped = True
        self._flight.abandon(ShuttingDownError("the service is shutting down before the numbers arrived"))

    async def _fetch(self) -> Fetched:
        started = time.perf_counter()
        fetch_id = uuid.uuid4().hex[:16]
        # The fetch runs in a context of its own (SingleFlight): all its log lines name it.
        structlog.contextvars.bind_contextvars(fetch_id=fetch_id)
        log.info("fetching numbers from the %s (fetch %s)", self.source.description, fetch_id)
        try:
            total, count, summing = await self._sum()
        except BackendError as error:
            seconds = time.perf_counter() - started
            fields = {"outcome": error.outcome, "duration": round(seconds, 6), "retries": self.source.retried}
            log.warning("fetch failed after %.3f s: %s", seconds, error.for_log(), extra=fields)
            metrics.FETCHES.labels(error.outcome).inc()
            metrics.FETCH_SECONDS.observe(seconds)
            self.breaker.failed()
            error.fetch_id = fetch_id
            raise
        seconds = time.perf_counter() - started
        self.breaker.succeeded()
        fields = {
            "outcome": "ok",
            "duration": round(seconds, 6),
            "count": count,
            "retries": self.source.retried,
        }
        log.info("summed %d numbers in %.3f s", count, seconds, extra=fields)
        metrics.FETCHES.labels("ok").inc()
        metrics.FETCH_SECONDS.observe(seconds)
        metrics.NUMBERS_SUMMED.inc(count)
        self._latest = Fetched(total, fetch_id, summing, ended=self._clock())
        return self._latest

    async def _sum(self) -> tuple[Number, int, float]:
        """The total of one fetch, how many numbers it had and the seconds spent adding
        them, within the deadline."""
        total = ExactSum()
        summing = 0.0
        try:
            async with asyncio.timeout(self.deadline), aclosing(self.source.chunks()) as chunks:
                last_yield = time.perf_counter()
                async for chunk in chunks:
                    adding = time.perf_counter()
                    total.add(chunk)
                    summing += time.perf_counter() - adding
                    if time.perf_counter() - last_yield > YIELD_INTERVAL:
                        await give_way()
                        last_yield = time.perf_counter()
            adding = time.perf_counter()
            result = total.result()
            return result, total.count, summing + time.perf_counter() - adding
        except TimeoutError:
            raise BackendTimeoutError(
                f"the numbers backend did not deliver within {self.deadline:g} s"
            ) from None
        except FloatRangeError as error:
            raise BackendDataError(str(error)) from None
