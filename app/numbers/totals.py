"""The total of the backend's numbers, fetched once for all concurrent requests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendUnavailableError
from app.numbers.events import FetchObserver, FetchReport, HowAnswered
from app.numbers.fetch import Fetched, FetchFailedError, fetch
from app.numbers.freshness import NEVER, Freshness
from app.numbers.numbers_api import NumbersSource
from app.numbers.single_flight import SingleFlight


@dataclass(frozen=True)
class Answer:
    """A request's total, and how it got it (see HowAnswered)."""

    fetched: Fetched
    how_answered: HowAnswered
    # Seconds since the total's fetch ended.
    age: float


class ShuttingDownError(Exception):
    """The service is shutting down: the request will not get a total."""


class Totals:
    """Computes totals from `source` within `deadline` seconds, asking again up to `retries`
    times after a retryable failure; overlapping requests share a fetch, `breaker` answers for
    a backend that keeps failing, and within the `freshness` windows a recent total is
    answered without waiting. Every fetch and answer is reported to `observer`."""

    def __init__(
        self,
        source: NumbersSource,
        deadline: float,
        breaker: CircuitBreaker,
        freshness: Freshness = NEVER,
        *,
        retries: int = 0,
        observer: FetchObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freshness = freshness
        self._source = source
        self._deadline = deadline
        self._breaker = breaker
        self._retries = retries
        self._observer = FetchObserver() if observer is None else observer
        self._clock = clock
        self._flight = SingleFlight(self._fetch, patience=deadline)
        # The latest successful fetch: a failed one never replaces it.
        self._latest: Fetched | None = None
        self._stopped = False

    async def current(self) -> Answer:
        """A fresh or stale total within the freshness windows; otherwise the total of a
        fetch that ends after this call (FetchFailedError if it fails)."""
        if self._stopped:
            raise ShuttingDownError("the service is shutting down")
        latest = self._latest
        if latest is not None:
            age = self._clock() - latest.ended
            state = self.freshness.state(age)
            if state != "expired":
                if state == "stale":
                    self._refresh()
                self._observer.total_requested(state)
                return Answer(latest, state, age)
        self._breaker.check()
        how: HowAnswered = "joined" if self._flight.running else "started"
        self._observer.total_requested(how)
        fetched = await self._flight.run()
        return Answer(fetched, how, self._clock() - fetched.ended)

    def _refresh(self) -> None:
        """Start a fetch for the requests to come, unless one runs or the breaker is open."""
        try:
            self._breaker.check()
        except BackendUnavailableError:
            return
        self._flight.start()

    def stop(self) -> None:
        """Answer every request still waiting for a fetch, and every later one, with ShuttingDownError."""
        self._stopped = True
        self._flight.abandon(ShuttingDownError("the service is shutting down before the numbers arrived"))

    async def _fetch(self) -> Fetched:
        # 64 random bits in hex: a name for the logs, not a secret.
        fetch_id = os.urandom(8).hex()
        # The fetch runs in a context of its own (SingleFlight): observers may bind to it.
        self._observer.fetch_started(fetch_id, self._source.description)
        started = time.perf_counter()
        try:
            fetched = await fetch(
                self._source,
                self._latest,
                fetch_id=fetch_id,
                deadline=self._deadline,
                retries=self._retries,
                observer=self._observer,
                clock=self._clock,
            )
        except FetchFailedError as failed:
            self._observer.fetch_ended(failed.report)
            if failures := self._breaker.failed():
                self._observer.breaker_opened(failures, self._breaker.cooldown)
            raise
        except asyncio.CancelledError:  # the service stops: observers close what they opened
            self._observer.fetch_ended(FetchReport(fetch_id, "cancelled", time.perf_counter() - started, 0))
            raise
        self._observer.fetch_ended(fetched.report)
        if self._breaker.succeeded():
            self._observer.breaker_closed()
        self._latest = fetched
        return fetched
