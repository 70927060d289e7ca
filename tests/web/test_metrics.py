"""GET /metrics and what feeds it, through Quart's test client with the serving hooks running.

The metrics live in prometheus-client's process-wide registry, so each test reads how a
value changed across what it did.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app.config import Config
from app.numbers.errors import BackendConnectionError, BackendDataError, BackendStatusError
from app.numbers.numbers_api import NumbersSource
from app.web.factory import create_app
from app.web.metrics import LAG_SAMPLE_SECONDS
from tests.sources import FailingSource, ListSource, NumberedSource, requests_sharing_a_fetch


@asynccontextmanager
async def serving(source: NumbersSource, **settings: float) -> AsyncIterator[QuartClient]:
    app = create_app(Config(**settings), source=source)  # type: ignore[arg-type]
    async with app.test_app() as test_app:
        yield test_app.test_client()


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def series(name: str) -> list[dict[str, str]]:
    """The label sets of every sample of metric family `name` (e.g. http_requests)."""
    return [
        sample.labels
        for family in REGISTRY.collect()
        if family.name == name
        for sample in family.samples
        if sample.name == name + "_total"
    ]


async def test_prometheus_text_format(client: QuartClient) -> None:
    """Metrics are in the Prometheus text format."""
    await client.get("/total")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == CONTENT_TYPE_LATEST  # the text format, which Prometheus reads
    text = await response.get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/total",status="200"}' in text
    for family in ("process_open_fds", "process_resident_memory_bytes", "event_loop_lag_seconds_bucket"):
        assert family in text


async def test_requests_counted_and_timed(client: QuartClient) -> None:
    """Requests are counted and timed by method, route and status."""
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = value("http_requests_total", **labels)
    timed = value("http_request_duration_seconds_count", **labels)
    for _ in range(3):
        await client.get("/healthz")
    assert value("http_requests_total", **labels) == before + 3
    assert value("http_request_duration_seconds_count", **labels) == timed + 3
    # No rule matched POST /healthz: a 405 is counted with the unmatched paths.
    not_allowed = {"method": "POST", "route": "unmatched", "status": "405"}
    before = value("http_requests_total", **not_allowed)
    await client.post("/healthz")
    assert value("http_requests_total", **not_allowed) == before + 1


async def test_path_scan_adds_few_series(app: Quart, client: QuartClient) -> None:
    """A scan of random paths adds one series per method and status."""
    letters = string.ascii_letters + string.digits
    for _ in range(300):
        await client.get("/" + "".join(random.choices(letters, k=12)))
    routes = {labels["route"] for labels in series("http_requests")}
    assert "unmatched" in routes
    assert routes <= {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}
    unmatched = [labels for labels in series("http_requests") if labels["route"] == "unmatched"]
    assert len(unmatched) == len({(labels["method"], labels["status"]) for labels in unmatched})


async def test_fetches_counted_by_outcome() -> None:
    """Fetches are counted by outcome, with their numbers."""
    ok, summed = value("numbers_backend_fetches_total", outcome="ok"), value("numbers_summed_total")
    async with serving(ListSource([np.arange(10, dtype=np.int64)])) as client:
        await client.get("/total")
    assert value("numbers_backend_fetches_total", outcome="ok") == ok + 1
    assert value("numbers_summed_total") == summed + 10
    failures = [
        (BackendDataError("bad"), "bad_data"),
        (BackendStatusError(500), "bad_status"),
        (BackendConnectionError("down"), "unreachable"),
    ]
    for error, outcome in failures:
        before = value("numbers_backend_fetches_total", outcome=outcome)
        async with serving(FailingSource(error)) as client:
            await client.get("/total")
        assert value("numbers_backend_fetches_total", outcome=outcome) == before + 1


async def test_timeout_counted_breaker_open() -> None:
    """A timeout is counted, and a scrape shows the breaker open, then closed once its time is up."""
    before = value("numbers_backend_fetches_total", outcome="timeout")
    never = asyncio.Event()
    source = ListSource([], gate=never)
    settings = {
        "numbers_api_timeout": 0.01,
        "numbers_api_breaker_failures": 1,
        "numbers_api_breaker_seconds": 0.3,
    }
    async with serving(source, **settings) as client:
        await client.get("/metrics")
        assert value("numbers_backend_breaker_open") == 0
        assert (await client.get("/total")).status_code == 504
        assert value("numbers_backend_fetches_total", outcome="timeout") == before + 1
        await client.get("/metrics")
        assert value("numbers_backend_breaker_open") == 1
        await asyncio.sleep(0.3)
        await client.get("/metrics")
        assert value("numbers_backend_breaker_open") == 0


async def test_joining_requests_counted() -> None:
    """Requests that share a fetch are counted as joining it."""
    started = value("total_requests_by_fetch_total", fetch="started")
    joined = value("total_requests_by_fetch_total", fetch="joined")
    source = ListSource([np.arange(3, dtype=np.int64)], gate=asyncio.Event())
    async with serving(source) as client:
        async with requests_sharing_a_fetch(client, source, 5) as requests:
            assert value("total_requests_waiting") == 5
        await asyncio.gather(*requests)
    assert value("total_requests_by_fetch_total", fetch="started") == started + 1
    assert value("total_requests_by_fetch_total", fetch="joined") == joined + 4
    assert value("total_requests_waiting") == 0


async def test_fresh_and_stale_answers_counted() -> None:
    """Answers from a fresh and from a stale total are counted."""
    fresh = value("total_requests_by_fetch_total", fetch="fresh")
    stale = value("total_requests_by_fetch_total", fetch="stale")
    async with serving(NumberedSource(), total_max_age=0.2, total_stale_while_revalidate=60) as client:
        await client.get("/total")
        await client.get("/total")
        await asyncio.sleep(0.25)
        await client.get("/total")
    assert value("total_requests_by_fetch_total", fetch="fresh") == fresh + 1
    assert value("total_requests_by_fetch_total", fetch="stale") == stale + 1


async def test_held_loop_shows_in_lag(client: QuartClient) -> None:
    """A held event loop shows in the lag histogram."""
    slow = value("event_loop_lag_seconds_bucket", le="+Inf") - value(
        "event_loop_lag_seconds_bucket", le="0.25"
    )
    await asyncio.sleep(LAG_SAMPLE_SECONDS)  # the sampler's timer is set
    time.sleep(0.6)  # noqa: ASYNC251  the loop is held, as a parse without yields would hold it
    await asyncio.sleep(2 * LAG_SAMPLE_SECONDS)
    after = value("event_loop_lag_seconds_bucket", le="+Inf") - value(
        "event_loop_lag_seconds_bucket", le="0.25"
    )
    assert after == slow + 1


async def test_metrics_never_touch_backend() -> None:
    """Metrics and health never touch the backend."""
    source = FailingSource(RuntimeError("the backend must not be asked"))
    async with serving(source) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
    assert source.fetches == 0


async def test_metrics_off_times_nothing() -> None:
    """With METRICS off no request is counted or timed, the loop is not sampled, and /metrics is 404."""
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    counted = value("http_requests_total", **labels)
    timed = value("http_request_duration_seconds_count", **labels)
    sampled = value("event_loop_lag_seconds_count")
    async with serving(ListSource([]), metrics=False) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
        await asyncio.sleep(3 * LAG_SAMPLE_SECONDS)  # a sampler would have sampled twice by now
    assert value("http_requests_total", **labels) == counted
    assert value("http_request_duration_seconds_count", **labels) == timed
    assert value("event_loop_lag_seconds_count") == sampled
