"""Prometheus metrics and GET /metrics: requests and latencies by route, the fetches as the
numbers side reports them, the breaker, the event loop's lag and its tasks.

Every metric lives in prometheus-client's default registry, with its process collectors (CPU,
memory, open file descriptors). With WORKERS > 1 every worker's values are in
prometheus-client's multiprocess files, and a scrape of any worker reads them all (the process
figures are the supervisor's, app.supervisor).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import AsyncGenerator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from quart import Blueprint, Quart, Response, current_app, request

from app.numbers.errors import BackendError
from app.numbers.events import FetchObserver, FetchReport, HowAnswered
from app.web import docs
from app.web.request_context import record_of

# /total answers about one backend delay (1 s by default) after the fetch starts, and
# slower only by what the service adds: the buckets split 1.0 s from 1.05 s from 1.3 s,
# and the fast routes (/healthz, /metrics, refusals) fall in the milliseconds below.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75,
    1.0, 1.025, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
)  # fmt: skip
# A healthy loop is late by well under a millisecond; a parse that held it shows as 10 ms
# and more.
LOOP_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# A stall of 100 ms or more is always seen, for ten timers a second.
LAG_SAMPLE_SECONDS = 0.1

REQUESTS = Counter("http_requests", "HTTP requests answered by the service", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival at the app to its response",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late a periodic timer fires on the event loop: the time the loop was held",
    buckets=LOOP_LAG_BUCKETS,
)
TASKS = Gauge("asyncio_tasks", "Tasks on the event loop", multiprocess_mode="livesum")
FETCHES = Counter(
    "numbers_backend_fetches",
    "Fetches from the numbers backend, by outcome: "
    "ok, not_modified, bad_data, bad_status, unreachable, timeout, error, cancelled",
    ["outcome"],
)
FETCH_SECONDS = Histogram(
    "numbers_backend_fetch_duration_seconds",
    "Time from a fetch's start to its total, or to its failure",
    buckets=LATENCY_BUCKETS,
)
RETRIES = Counter("numbers_backend_retries", "Requests to the numbers backend made again after a failure")
NUMBERS_SUMMED = Counter("numbers_summed", "Numbers summed, over every successful fetch")
# With WORKERS > 1 each worker has its own breaker: the instance's is open if any is.
BREAKER_OPEN = Gauge(
    "numbers_backend_breaker_open",
    "1 while the circuit breaker answers 503 for the backend",
    multiprocess_mode="max",
)
TOTAL_REQUESTS = Counter(
    "total_requests_by_fetch",
    "Requests for /total that started a fetch, joined one already running (single flight), or "
    "were answered at once from a fresh or a stale total (TOTAL_MAX_AGE)",
    ["fetch"],
)
TOTAL_WAITING = Gauge(
    "total_requests_waiting", "Requests for /total waiting for a fetch now", multiprocess_mode="livesum"
)
# The route whose requests wait for fetches.
TOTAL_ROUTE = "/total"
_EXTENSION = "total_service.metrics"

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@docs.documented(docs.Metrics)
async def exposition() -> Response:
    """Every metric in the Prometheus text format."""
    metrics: FetchMetrics = current_app.extensions[_EXTENSION]
    metrics.set_gauges()
    return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """This process's registry; with WORKERS > 1, one that reads every worker's files."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class FetchMetrics(FetchObserver):
    """The numbers side's events as metrics."""

    def __init__(self) -> None:
        # The breaker closes with time alone: its gauge is set from this when sampled.
        self._breaker_open_until = 0.0

    def total_requested(self, how: HowAnswered) -> None:
        TOTAL_REQUESTS.labels(how).inc()

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        RETRIES.inc()

    def fetch_ended(self, report: FetchReport) -> None:
        FETCHES.labels(report.outcome).inc()
        FETCH_SECONDS.observe(report.seconds)
        if report.outcome == "ok":
            NUMBERS_SUMMED.inc(report.count)

    def breaker_opened(self, failures: int, cooldown: float) -> None:
        self._breaker_open_until = time.monotonic() + cooldown
        BREAKER_OPEN.set(1)

    def breaker_closed(self) -> None:
        self._breaker_open_until = 0.0
        BREAKER_OPEN.set(0)

    def set_gauges(self) -> None:
        """The gauges that change with no event: set when scraped, and as the loop is sampled
        (another worker's scrape reads them from this worker's files)."""
        TASKS.set(len(asyncio.all_tasks()))
        BREAKER_OPEN.set(self._breaker_open_until > time.monotonic())


async def _count(response: Response) -> Response:
    record = record_of(request)
    requests, seconds = _series(request.method, record.route, response.status_code)
    requests.inc()
    seconds.observe(time.perf_counter() - record.started)
    return response


async def _wait_begins() -> None:
    if record_of(request).route == TOTAL_ROUTE:
        TOTAL_WAITING.inc()


async def _wait_ends(error: BaseException | None) -> None:
    if record_of(request).route == TOTAL_ROUTE:
        TOTAL_WAITING.dec()


# prometheus-client looks a series up by its labels under a lock, for each metric; a request
# has one pair, looked up here once per distinct labels. Bounded: a client chooses the method.
@functools.lru_cache(maxsize=1024)
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    labels = (method, route, str(status))
    return REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels)


async def _sample_loop_lag(metrics: FetchMetrics) -> AsyncGenerator[None, None]:
    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_SAMPLE_SECONDS
            await asyncio.sleep(LAG_SAMPLE_SECONDS)
            LOOP_LAG.observe(max(0.0, loop.time() - due))
            # Another worker's scrape reads these from this worker's files.
            metrics.set_gauges()

    sampler = asyncio.create_task(sample())
    yield
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler


def init_app(app: Quart) -> FetchMetrics:
    """Count and time every request of `app`, sample its loop's lag while it serves, serve
    /metrics; the observer that turns the numbers side's events into metrics."""
    metrics = app.extensions[_EXTENSION] = FetchMetrics()
    app.before_request(_wait_begins)
    app.after_request(_count)
    app.teardown_request(_wait_ends)  # even for a request whose client went away
    app.register_blueprint(blueprint)
    app.while_serving(functools.partial(_sample_loop_lag, metrics))
    return metrics
