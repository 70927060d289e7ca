"""The `metrics` blueprint (GET /metrics) and the hooks that feed it: request counts and
latencies by route, and the event loop's lag, sampled."""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from quart import Blueprint, Quart, Response, g, request

from app.web import docs, metrics

blueprint = Blueprint("metrics", __name__)

# How often the loop's lag is sampled: a stall of 100 ms or more is always seen, for ten
# timers a second (what all of the telemetry costs is measured by bench/'s telemetry part).
LAG_SAMPLE_SECONDS = 0.1


@blueprint.get("/metrics")
@docs.documented(docs.Metrics)
async def exposition() -> Response:
    """Every metric in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


async def _start_timer() -> None:
    g.request_started = time.perf_counter()


async def _count(response: Response) -> Response:
    labels = (request.method, metrics.route_of(request.url_rule), str(response.status_code))
    metrics.REQUESTS.labels(*labels).inc()
    started = g.get("request_started", time.perf_counter())
    metrics.REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
    return response


async def _sample_loop_lag() -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_SAMPLE_SECONDS
        await asyncio.sleep(LAG_SAMPLE_SECONDS)
        metrics.LOOP_LAG.observe(max(0.0, loop.time() - due))


def install(app: Quart) -> None:
    """Count every request of `app`, sample its loop's lag while it serves, serve /metrics."""
    # First of the before-request hooks, so that a request another hook refuses is timed too.
    app.before_request(_start_timer)
    app.after_request(_count)
    app.register_blueprint(blueprint)
    metrics.TASKS.set_function(lambda: len(asyncio.all_tasks()))
    sampler: list[asyncio.Task[None]] = []

    async def start_sampling() -> None:
        sampler.append(asyncio.create_task(_sample_loop_lag()))

    async def stop_sampling() -> None:
        for task in sampler:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.before_serving(start_sampling)
    app.after_serving(stop_sampling)
