"""The observers of the numbers side, registered in one place: log lines always, metrics when
METRICS is on, spans when the OTEL_* settings name a collector. Each subscribes to the events
of app.numbers.events; none is called by name from the numbers side.
"""

from __future__ import annotations

import logging

import structlog
from quart import Quart

from app.config import Config
from app.numbers.errors import BackendError, UnexpectedFetchError
from app.numbers.events import FetchObserver, FetchReport, Observers
from app.web import metrics, request_context

# The log lines of fetches and of the breaker: what happened on the numbers side.
log = logging.getLogger("app.numbers")


class FetchLog(FetchObserver):
    """A log line for each fetch's start, retry and end, and for the breaker's changes; every
    line of a fetch names it (fetch_id, bound in the fetch's own context)."""

    def fetch_started(self, fetch_id: str, source: str) -> None:
        structlog.contextvars.bind_contextvars(fetch_id=fetch_id)
        log.info("fetching numbers from the %s (fetch %s)", source, fetch_id)

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        log.warning("retrying the numbers backend (%d of %d) after: %s", attempt, of, error.for_log())

    def fetch_ended(self, report: FetchReport) -> None:
        fields = {
            "outcome": report.outcome,
            "duration": round(report.seconds, 6),
            "count": report.count,
            "retries": max(0, report.attempts - 1),
        }
        if report.outcome == "ok":
            log.info("summed %d numbers in %.3f s", report.count, report.seconds, extra=fields)
        elif report.outcome == "not_modified":
            log.info("not modified: the previous total, after %.3f s", report.seconds, extra=fields)
        elif report.error is None:
            log.info("fetch %s after %.3f s", report.outcome, report.seconds, extra=fields)
        else:
            # A fault of the service's own is an error, with its traceback.
            ours = isinstance(report.error, UnexpectedFetchError)
            level, trace = (logging.ERROR, report.error.__cause__) if ours else (logging.WARNING, None)
            why = report.error.for_log()
            log.log(level, "fetch failed after %.3f s: %s", report.seconds, why, extra=fields, exc_info=trace)

    def breaker_opened(self, failures: int, cooldown: float) -> None:
        log.warning(
            "circuit breaker open: %d fetches in a row failed; answering 503 for %g s", failures, cooldown
        )

    def breaker_closed(self) -> None:
        log.info("circuit breaker closed: the numbers backend answered again")


def init_app(app: Quart, config: Config) -> FetchObserver:
    """Give `app` its request records and, with METRICS on, its metrics, and with tracing on
    its spans; the observers the numbers side reports to."""
    request_context.init_app(app)  # first: every later hook, and the access log, reads the record
    observers: list[FetchObserver] = [FetchLog()]
    if config.otel_traces_url is not None:
        # Imported only now: with tracing off, OpenTelemetry is not loaded at all.
        from app.web import traces

        # First: a fetch's span is current before the fetch's first log line, which then names it.
        observers.insert(0, traces.init_app(app, config))
    if config.metrics:
        observers.append(metrics.init_app(app))
    return Observers(observers)
