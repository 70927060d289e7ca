"""One fetch: ask the source (again after a retryable failure), sum what it delivers within
the deadline, and return one value that carries all the callers and observers need."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass

from app.numbers.errors import (
    BackendDataError,
    BackendError,
    BackendStatusError,
    BackendTimeoutError,
    UnexpectedFetchError,
)
from app.numbers.events import FetchObserver, FetchReport
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number
from app.numbers.numbers_api import NumbersSource, Reply, Validator
from app.numbers.pacing import Pacer

# Exponential backoff with full jitter: before retry n, a random pause of up to
# BACKOFF_BASE * 2**(n-1) seconds, never more than BACKOFF_MAX.
BACKOFF_BASE = 0.1
BACKOFF_MAX = 2.0


@dataclass(frozen=True)
class Fetched:
    """A fetch's total, with its report and what the requests answered from it need."""

    total: Number
    report: FetchReport
    # The version of the backend's list this is the total of, if the backend named one.
    validator: Validator | None
    # Seconds spent adding the parsed numbers up (parsing is interleaved with the transfer).
    summing_seconds: float
    # When the fetch ended, on the clock of the Totals that made it.
    ended: float


class FetchFailedError(Exception):
    """A fetch failed: every request that waited for it gets this, with the fetch's report."""

    def __init__(self, report: FetchReport, error: BackendError) -> None:
        super().__init__(str(error))
        self.report = report
        self.error = error


@dataclass(frozen=True)
class _Sum:
    total: Number
    count: int
    seconds: float
    outcome: str


async def fetch(
    source: NumbersSource,
    latest: Fetched | None,
    *,
    fetch_id: str,
    deadline: float,
    retries: int,
    observer: FetchObserver,
    clock: Callable[[], float],
) -> Fetched:
    """The total of the source's numbers, or of `latest` if the source says they have not
    changed since; FetchFailedError, with the report, if it cannot be had within `deadline`."""
    started = time.perf_counter()
    known = latest.validator if latest is not None else None
    attempts = 0

    def report(outcome: str, count: int = 0, error: BackendError | None = None) -> FetchReport:
        return FetchReport(fetch_id, outcome, time.perf_counter() - started, attempts, count, error)

    failure: BackendError
    try:
        async with asyncio.timeout(deadline):
            while True:
                attempts += 1
                pacer = Pacer()  # the source's decoding and the sum share it
                try:
                    async with source.request(known, pacer) as reply:
                        summed = await _sum(reply, latest, pacer)
                    done = report(summed.outcome, summed.count)
                    return Fetched(summed.total, done, reply.validator, summed.seconds, clock())
                except BackendError as error:
                    if not error.retryable or attempts > retries:
                        raise
                    observer.fetch_retried(fetch_id, attempts, retries, error)
                backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempts - 1))
                # Jitter, not a secret: bandit's B311 (use a CSPRNG) does not apply.
                await asyncio.sleep(random.uniform(0, backoff))  # nosec B311
    except TimeoutError:
        failure = BackendTimeoutError(f"the numbers backend did not deliver within {deadline:g} s")
    except FloatRangeError as error:
        failure = BackendDataError(str(error))
    except BackendError as error:
        failure = error
    except Exception as error:  # a fault of ours: still a failed fetch, counted and answered
        failure = UnexpectedFetchError(error)
    raise FetchFailedError(report(failure.outcome, error=failure), failure)


async def _sum(reply: Reply, latest: Fetched | None, pacer: Pacer) -> _Sum:
    """The exact sum of the reply's numbers, handing the loop back as it goes; `latest`'s
    if the reply says the list has not changed."""
    if reply.chunks is None:
        if latest is None:  # not modified, yet no version was named: the source broke its contract
            raise BackendStatusError(304)
        return _Sum(latest.total, latest.report.count, 0.0, "not_modified")
    total = ExactSum()
    summing = 0.0
    async with aclosing(reply.chunks) as chunks:
        async for chunk in chunks:
            adding = time.perf_counter()
            total.add(chunk)
            summing += time.perf_counter() - adding
            await pacer.pause_if_due()
    adding = time.perf_counter()
    result = total.result()
    return _Sum(result, total.count, summing + time.perf_counter() - adding, "ok")
