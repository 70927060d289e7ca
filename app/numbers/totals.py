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

from app.numbers import fetch_metrics, pacing
from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendDataError, BackendError, BackendTimeoutError, BackendUnavailableError
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number
from app.numbers.freshness import NEVER, Freshness
from app.numbers.numbers_api import NotModified, NumbersSource, Validator
from app.numbers.single_flight import SingleFlight

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """One fetch's total, with what the logs and Server-Timing tell of it."""

    total: Number
    fetch_id: str
    # Seconds spent adding the parsed numbers up (parsing is interleaved with the transfer).
    summing_seconds: float
    # When the fetch ended, on the clock of the Totals that made it.
    ended: float
    # The version of the backend's list this is the total of, if the backend named one.
    validator: Validator | None = None
    # "not_modified": the backend answered 304, and this is the total of its list before.
    outcome: Literal["ok", "not_modified"] = "ok"


@dataclass(frozen=True)
class Answer:
    """A request's total, and how it got it: it started a fetch, joined one running, or
    was answered at once from a recent fetch's total, fresh or stale."""

    fetched: Fetched
    how_answered: Literal["started", "joined", "fresh", "stale"]
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
                fetch_metrics.TOTAL_REQUESTS.labels(state).inc()
                return Answer(latest, state, age)
        self.breaker.check()
        how_answered: Literal["started", "joined"] = "joined" if self._flight.running else "started"
        fetch_metrics.TOTAL_REQUESTS.labels(how_answered).inc()
        with fetch_metrics.TOTAL_WAITING.track_inprogress():
            fetched = await self._flight.run()
        return Answer(fetched, how_answered, self._clock() - fetched.ended)

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
        latest = self._latest
        known = latest.validator if latest is not None else None
        try:
            total, count, summing = await self._sum(known)
        except NotModified:
            if latest is None:  # only a known version is asked for
                raise
            return self._reuse(latest, fetch_id, started)
        except BackendError as error:
            seconds = time.perf_counter() - started
            fields = {"outcome": error.outcome, "duration": round(seconds, 6), "retries": self.source.retried}
            log.warning("fetch failed after %.3f s: %s", seconds, error.for_log(), extra=fields)
            fetch_metrics.FETCHES.labels(error.outcome).inc()
            fetch_metrics.FETCH_SECONDS.observe(seconds)
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
        fetch_metrics.FETCHES.labels("ok").inc()
        fetch_metrics.FETCH_SECONDS.observe(seconds)
        fetch_metrics.NUMBERS_SUMMED.inc(count)
        self._latest = Fetched(total, fetch_id, summing, self._clock(), self.source.validator)
        return self._latest

    def _reuse(self, latest: Fetched, fetch_id: str, started: float) -> Fetched:
        """The backend's list is still `latest`'s: its total, exactly, without reading a body."""
        seconds = time.perf_counter() - started
        self.breaker.succeeded()
        fields = {"outcome": "not_modified", "duration": round(seconds, 6), "retries": self.source.retried}
        log.info("not modified: the total of fetch %s after %.3f s", latest.fetch_id, seconds, extra=fields)
        fetch_metrics.FETCHES.labels("not_modified").inc()
        fetch_metrics.FETCH_SECONDS.observe(seconds)
        self._latest = Fetched(latest.total, fetch_id, 0.0, self._clock(), latest.validator, "not_modified")
        return self._latest

    async def _sum(self, known: Validator | None) -> tuple[Number, int, float]:
        """The total of one fetch, how many numbers it had and the seconds spent adding
        them, within the deadline."""
        total = ExactSum()
        summing = 0.0
        try:
            async with asyncio.timeout(self.deadline), aclosing(self.source.chunks(known)) as chunks:
                pacing.start_clock()
                async for chunk in chunks:
                    adding = time.perf_counter()
                    total.add(chunk)
                    summing += time.perf_counter() - adding
                    await pacing.pause_if_due()
            adding = time.perf_counter()
            result = total.result()
            return result, total.count, summing + time.perf_counter() - adding
        except TimeoutError:
            raise BackendTimeoutError(
                f"the numbers backend did not deliver within {self.deadline:g} s"
            ) from None
        except FloatRangeError as error:
            raise BackendDataError(str(error)) from None
