"""The fetch's log lines, as the FetchLog observer writes them for what Totals reports."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
import structlog

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendConnectionError
from app.numbers.fetch import FetchFailedError
from app.numbers.numbers_api import Reply, Validator
from app.numbers.pacing import Pacer
from app.numbers.totals import Totals
from app.web.telemetry import FetchLog
from tests.sources import Clock, FlakySource, NumberedSource


class ContextRecordingSource(NumberedSource):
    """Records the fetch id bound for log lines while each fetch runs."""

    def __init__(self, failing: list[int]) -> None:
        super().__init__(failing)
        self.fetch_ids: list[object] = []

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        self.fetch_ids.append(structlog.contextvars.get_contextvars().get("fetch_id"))
        async with super().request(known, pacer) as reply:
            yield reply


def fetch_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.numbers"]


async def test_each_fetch_logs_its_start_and_outcome(caplog: pytest.LogCaptureFixture) -> None:
    """Each fetch logs its start and its outcome, duration, count and retries, its id bound
    for every line it logs."""
    caplog.set_level(logging.INFO, logger="app.numbers")
    source = ContextRecordingSource(failing=[2])
    totals = Totals(source, 5.0, CircuitBreaker(threshold=0, cooldown=1.0), observer=FetchLog())
    started = time.perf_counter()
    answer = await totals.current()
    with pytest.raises(FetchFailedError) as failed:
        await totals.current()
    elapsed = time.perf_counter() - started
    fetch_ids = [answer.fetched.report.fetch_id, failed.value.report.fetch_id]
    assert source.fetch_ids == fetch_ids
    started_lines = [r.getMessage() for r in fetch_lines(caplog) if r.getMessage().startswith("fetching")]
    assert started_lines == [
        f"fetching numbers from the test backend (fetch {fetch_id})" for fetch_id in fetch_ids
    ]
    summed, failure = (r for r in fetch_lines(caplog) if "outcome" in vars(r))
    assert summed.getMessage().startswith("summed 1 numbers in ")
    assert failure.getMessage() == (
        f"fetch failed after {vars(failure)['duration']:.3f} s: the numbers backend answered HTTP 500"
    )
    ok, bad = vars(summed), vars(failure)  # the fields given in `extra`
    assert (summed.levelno, ok["outcome"], ok["count"], ok["retries"]) == (logging.INFO, "ok", 1, 0)
    assert (failure.levelno, bad["outcome"], bad["retries"]) == (logging.WARNING, "bad_status", 0)
    assert 0 < ok["duration"] <= elapsed
    assert 0 < bad["duration"] <= elapsed


async def test_retries_and_breaker_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A retry logs what failed; the breaker logs when it opens and when it closes again."""
    caplog.set_level(logging.INFO, logger="app.numbers")
    clock = Clock()
    unreachable = BackendConnectionError("could not be reached", cause="port 9 refused", retryable=True)
    source = FlakySource([unreachable, unreachable])
    breaker = CircuitBreaker(threshold=1, cooldown=2.5, clock=clock)
    totals = Totals(source, 5.0, breaker, retries=1, observer=FetchLog(), clock=clock)
    with pytest.raises(FetchFailedError):
        await totals.current()
    clock.now += 2.5
    answer = await totals.current()
    assert answer.fetched.total == 5
    messages = [
        (r.levelno, r.getMessage()) for r in fetch_lines(caplog) if not r.getMessage().startswith("fetch")
    ]
    assert messages == [
        (
            logging.WARNING,
            "retrying the numbers backend (1 of 1) after: could not be reached (port 9 refused)",
        ),
        (logging.WARNING, "circuit breaker open: 1 fetches in a row failed; answering 503 for 2.5 s"),
        (logging.INFO, "summed 1 numbers in " + messages[2][1].removeprefix("summed 1 numbers in ")),
        (logging.INFO, "circuit breaker closed: the numbers backend answered again"),
    ]
    failure = next(r for r in fetch_lines(caplog) if getattr(r, "outcome", None) == "unreachable")
    assert failure.__dict__["retries"] == 1


class Unchanged(NumberedSource):
    """The first fetch names version v1; every later one is answered not modified."""

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        number = await self.begin_fetch()
        yield Reply(known, None) if known else Reply(Validator('"v1"', None), self.numbers(number))


async def test_not_modified_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.numbers")
    totals = Totals(Unchanged(), 5.0, CircuitBreaker(threshold=0, cooldown=1.0), observer=FetchLog())
    await totals.current()
    await totals.current()
    (record,) = [r for r in fetch_lines(caplog) if getattr(r, "outcome", None) == "not_modified"]
    assert record.getMessage().startswith("not modified: the previous total, after ")
    assert (record.__dict__["count"], record.__dict__["retries"]) == (1, 0)
    assert np.isfinite(record.__dict__["duration"])
