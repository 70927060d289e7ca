"""The HTTP API through Quart's test client, with the serving hooks running."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
from prometheus_client import REGISTRY
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app.config import Config
from app.numbers.numbers_api import NumbersSource
from app.web.factory import create_app
from app.web.problems import MAX_HEADERS
from app.web.service import service_of
from tests.sources import FailingSource, ListSource, parsed, requests_sharing_a_fetch

PROBLEM_KEYS = {"type", "title", "status", "detail"}


@asynccontextmanager
async def serving(source: NumbersSource) -> AsyncIterator[QuartClient]:
    app: Quart = create_app(Config(), source=source)
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def test_total_is_the_exact_sum(client: QuartClient) -> None:
    response = await client.get("/total")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert await response.get_json() == {"total": sum(range(1000))}


async def test_head_total_has_the_headers_of_get(client: QuartClient) -> None:
    # The body is dropped by the server (Hypercorn), so the end-to-end test checks that.
    get = await client.get("/total")
    response = await client.head("/total")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Content-Length"] == get.headers["Content-Length"]


async def test_readyz_503_while_draining(app: Quart, client: QuartClient) -> None:
    """/readyz is ready until the app drains, then 503 while totals are still served."""
    response = await client.get("/readyz")
    assert (response.status_code, await response.get_json()) == (200, {"status": "ready"})
    service_of(app).drain()
    response = await client.get("/readyz")
    assert (response.status_code, response.content_type) == (503, "application/problem+json")
    assert response.headers["Retry-After"] == "1"
    assert (await response.get_json())["title"] == "Draining"
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/total")).status_code == 200


async def test_a_float_total_is_a_json_number() -> None:
    async with serving(ListSource([*parsed(b"[0.1, 0.2, 0.3]"), np.arange(3, dtype=np.int64)])) as client:
        response = await client.get("/total")
    assert await response.get_json() == {"total": 3.6}


async def test_wide_total_written_exactly() -> None:
    """A total wider than Python's digit limit is written exactly."""
    nines = b"9" * 4300  # ten items at Python's limit; their total has 4,301 digits
    body = b"[" + b",".join([nines] * 10) + b"]"
    async with serving(ListSource(parsed(body))) as client:
        response = await client.get("/total")
    assert response.status_code == 200
    assert await response.get_data() == b'{"total":' + b"9" * 4299 + b"90}\n"


async def test_body_refused_413(client: QuartClient) -> None:
    """A request body is refused with 413 and the connection closed."""
    response = await client.get("/total", data=b"x" * 10, headers={"Content-Length": "10"})
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert response.headers["Connection"] == "close"
    assert (await response.get_json())["detail"] == "no route of this service takes a request body"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/total", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
async def test_405_before_413(client: QuartClient, method: str, path: str) -> None:
    """A method no route of the path takes is a 405 with Allow, whatever the body."""
    send = getattr(client, method.lower())
    response = await send(path, data=b"x", headers={"Content-Length": "1"})
    assert (response.status_code, response.content_type) == (405, "application/problem+json")
    assert "GET" in response.headers["Allow"]
    assert response.headers["Connection"] == "close"


async def test_404_before_413(client: QuartClient) -> None:
    response = await client.post("/no-such-path", data=b"x", headers={"Content-Length": "1"})
    assert (response.status_code, response.headers["Connection"]) == (404, "close")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_413_for_a_method_the_route_takes(client: QuartClient, method: str) -> None:
    send = getattr(client, method.lower())
    response = await send("/healthz", data=b"x", headers={"Content-Length": "1"})
    assert response.status_code == 413


async def test_too_many_headers_431(client: QuartClient) -> None:
    """More headers than the limit are refused with 431."""
    # The test client adds Host and User-Agent: MAX_HEADERS - 2 of ours are the most allowed.
    allowed = {f"X-Filler-{n}": "v" for n in range(MAX_HEADERS - 2)}
    assert (await client.get("/healthz", headers=allowed)).status_code == 200
    response = await client.get("/healthz", headers={**allowed, "X-One-Too-Many": "v"})
    assert response.status_code == 431
    assert response.content_type == "application/problem+json"
    assert response.headers["Connection"] == "close"


@pytest.mark.parametrize("path", ["/total", "/healthz", "/no-such-path"])
async def test_request_id_kept_and_echoed(client: QuartClient, path: str) -> None:
    """A well-formed request id is kept and echoed."""
    response = await client.get(path, headers={"X-Request-ID": "client-id_1.2"})
    assert response.headers["X-Request-ID"] == "client-id_1.2"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "semi;colon"])
async def test_otherwise_a_new_request_id_is_made(client: QuartClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = (await client.get("/healthz", headers=headers)).headers["X-Request-ID"]
    second = (await client.get("/healthz", headers=headers)).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


async def test_refused_request_has_request_id(client: QuartClient) -> None:
    response = await client.get("/total", data=b"x", headers={"Content-Length": "1", "X-Request-ID": "r-1"})
    assert (response.status_code, response.headers["X-Request-ID"]) == (413, "r-1")


async def test_server_timing() -> None:
    """Server-Timing tells the wait, the summing, and whether the fetch was shared."""
    source = ListSource([np.arange(3, dtype=np.int64)], gate=asyncio.Event())
    async with serving(source) as client:
        async with requests_sharing_a_fetch(client, source, 2) as requests:
            pass
        responses = await asyncio.gather(*requests)
    timings = [response.headers["Server-Timing"] for response in responses]
    pattern = r"wait;dur=(\d+\.\d), sum;dur=\d+\.\d, fetch;desc=(started|joined)"
    matches = [re.fullmatch(pattern, timing) for timing in timings]
    assert all(matches), timings
    assert sorted(match.group(2) for match in matches if match) == ["joined", "started"]
    assert all(float(match.group(1)) >= 50 for match in matches if match)  # both waited for the gate


async def test_healthz_never_touches_the_backend() -> None:
    source = FailingSource(RuntimeError("backend down"))
    async with serving(source) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert source.fetches == 0


async def test_source_open_while_serving() -> None:
    """The source is open while the app serves."""
    source = ListSource([])
    async with serving(source):
        assert source.opened
        assert not source.closed
    assert source.closed


async def test_unknown_path_is_a_404_problem(client: QuartClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    body = await response.get_json()
    assert body.keys() == PROBLEM_KEYS
    assert body["status"] == 404
    assert body["title"] == "Not Found"


async def test_wrong_method_is_405_problem(client: QuartClient) -> None:
    """A wrong method is a 405 problem, with Allow."""
    response = await client.post("/total")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    body = await response.get_json()
    assert body["status"] == 405
    assert body["title"] == "Method Not Allowed"


async def test_unexpected_error_is_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error in a fetch is a 500 problem naming the fetch, counted as a failed
    fetch, with the traceback only in the log."""
    failed = REGISTRY.get_sample_value("numbers_backend_fetches_total", {"outcome": "error"}) or 0
    async with serving(FailingSource(RuntimeError("secret internals"))) as client:
        response = await client.get("/total")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    text = await response.get_data(as_text=True)
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert (await response.get_json())["title"] == "Unexpected error in a fetch"
    assert REGISTRY.get_sample_value("numbers_backend_fetches_total", {"outcome": "error"}) == failed + 1
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert [str(r.exc_info[1]) for r in logged if r.exc_info] == ["secret internals"]
    assert len(response.headers["X-Fetch-ID"]) == 16


async def test_requests_share_one_fetch() -> None:
    """Overlapping requests share one fetch."""
    source = ListSource([np.arange(10, dtype=np.int64)], gate=asyncio.Event())
    async with serving(source) as client:
        async with requests_sharing_a_fetch(client, source, 20) as requests:
            pass
        responses = await asyncio.gather(*requests)
    assert [await r.get_json() for r in responses] == [{"total": 45}] * 20
    assert source.fetches == 1


async def test_later_request_starts_new_fetch() -> None:
    """A request after a fetch ends starts a new one."""
    source = ListSource([np.arange(10, dtype=np.int64)])
    async with serving(source) as client:
        await client.get("/total")
        await client.get("/total")
    assert source.fetches == 2
