"""The HTTP side's metrics and GET /metrics: requests and latencies by route, the event
loop's lag and its tasks.

Every metric lives in prometheus-client's default registry, with app.numbers.fetch_metrics
and prometheus-client's process collectors (CPU, memory, open file descriptors). With
WORKERS > 1 every worker's values are in prometheus-client's multiprocess files, and a scrape
of any worker reads them all (the process figures are the supervisor's, app.supervisor).
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
from quart import Blueprint, Quart, Response, current_app, g, request

from app.numbers.fetch_metrics import LATENCY_BUCKETS
from app.web import docs
from app.web.service import service_of

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

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@docs.documented(docs.Metrics)
async def exposition() -> Response:
    """Every metric in the Prometheus text format."""
    _set_gauges(current_app)
    return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """This process's registry; with WORKERS > 1, one that reads every worker's files."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _set_gauges(app: Quart) -> None:
    """The gauges that change with no event to count: when scraped, and as the loop is sampled."""
    TASKS.set(len(asyncio.all_tasks()))
    service_of(app).totals.breaker.publish()


async def _start_timer() -> None:
    g.request_started = time.perf_counter()


async def _count(response: Response) -> Response:
    requests, seconds = _series(request.method, g.route, response.status_code)
    requests.inc()
    seconds.observe(time.perf_counter() - g.request_started)
    return response


# prometheus-client looks a series up by its labels under a lock, for each metric; a request
# has one pair, looked up here once per distinct labels. Bounded: a client chooses the method.
@functools.lru_cache(maxsize=1024)
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    labels = (method, route, str(status))
    return REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels)


async def _sample_loop_lag(app: Quart) -> AsyncGenerator[None, None]:
    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_SAMPLE_SECONDS
            await asyncio.sleep(LAG_SAMPLE_SECONDS)
            LOOP_LAG.observe(max(0.0, loop.time() - due))
            # Another worker's scrape reads these from this worker's files.
            _set_gauges(app)

    sampler = asyncio.create_task(sample())
    yield
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler


def init_app(app: Quart) -> None:
    """Count and time every request of `app`, sample its loop's lag while it serves, serve /metrics."""
    app.before_request(_start_timer)
    app.after_request(_count)
    app.register_blueprint(blueprint)
    app.while_serving(functools.partial(_sample_loop_lag, app))
