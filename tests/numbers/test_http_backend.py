"""The HTTP backend client against the reference backend running as a real process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from fractions import Fraction
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app.config import Config
from app.numbers.numbers_api import HttpNumbers, numbers_source
from app.web.factory import create_app
from tests.processes import ServerProcess, free_port, reference_backend


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with reference_backend(tmp_path_factory.mktemp("backend"), count=1000) as process:
        yield process


@asynccontextmanager
async def service(url: str, **settings: Any) -> AsyncIterator[tuple[Quart, QuartClient]]:
    """The app, serving (so its HTTP session is open), with its backend at `url`."""
    app = create_app(Config(numbers_api_url=url, **settings))
    async with app.test_app():
        yield app, app.test_client()


async def total_of(url: str, **settings: Any) -> tuple[int, dict[str, Any], str]:
    async with service(url, **settings) as (_, client):
        response = await client.get("/total")
        return response.status_code, await response.get_json(), response.content_type


def json_url(backend: ServerProcess, body: str, piece: int = 3) -> str:
    """A backend answering `body`, sent in pieces of `piece` bytes."""
    return f"{backend.url}/json?piece={piece}&body={quote(body)}"


async def test_the_numbers_of_a_real_backend(backend: ServerProcess) -> None:
    status, body, content_type = await total_of(backend.url + "/numbers")
    assert (status, content_type) == (200, "application/json")
    assert body == {"total": 499500}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("[]", 0),
        ("[9223372036854775807, 1]", 9223372036854775808),
        ("[-5, 1234567890123456789012345678901234567890]", 1234567890123456789012345678901234567885),
        ("[0.1, 0.2, 0.3]", 0.6),
        ("[1e100, 1.0, -1e100]", 1.0),
        ("[1000000000000000000000000000001, 0.5]", float(Fraction(10**30 + 1) + Fraction(1, 2))),
        ("[ 1 ,\n\t2E-5 , -0.0 ]", 1.00002),
    ],
)
async def test_exact_sums_through_http(backend: ServerProcess, document: str, expected: int | float) -> None:
    status, body, _ = await total_of(json_url(backend, document))
    assert status == 200
    assert body == {"total": expected}
    assert type(body["total"]) is type(expected)


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/faults/not-a-number", 502, "item 2 is a string, not a number"),
        ("/faults/garbage", 502, "the body is not a JSON array"),
        ("/faults/not-an-array", 502, "the body is not a JSON array"),
        ("/faults/truncated", 502, "the body ends before the JSON array does"),
        ("/faults/drop", 502, "broke mid-body"),
        ("/faults/status/500", 502, "answered HTTP 500"),
        ("/faults/status/404", 502, "answered HTTP 404"),
        ("/faults/slow?seconds=5", 504, "did not deliver within 0.5 s"),
    ],
)
async def test_faulty_backend_names_fault(
    backend: ServerProcess, path: str, status: int, detail: str
) -> None:
    """A faulty backend is a problem naming the fault."""
    got_status, body, content_type = await total_of(backend.url + path, numbers_api_timeout=0.5)
    assert (got_status, content_type) == (status, "application/problem+json")
    assert body["status"] == status
    assert detail in body["detail"]
    assert "total" not in body


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ('[1, 2, true, "x"]', "item 2 is true, not a number"),
        ("[1, null]", "item 1 is null, not a number"),
        ("[1, [2]]", "item 1 is an array, not a number"),
        ('[{"n": 1}]', "item 0 is an object, not a number"),
        ("[1, NaN]", "item 1 is not a valid JSON number"),
        ("[1, 2] 3", "the body goes on after the end of the JSON array"),
        ("[1.7e308, 1.7e308]", "beyond the range of a float"),
    ],
)
async def test_bad_data_is_502(backend: ServerProcess, document: str, detail: str) -> None:
    """Bad data is a 502 naming what is wrong."""
    status, body, _ = await total_of(json_url(backend, document))
    assert status == 502
    assert detail in body["detail"]


async def test_unreachable_retried_then_502(caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable backend is retried, then a 502."""
    port = free_port()
    status, body, _ = await total_of(f"http://127.0.0.1:{port}/numbers", numbers_api_retries=2)
    assert status == 502
    # The client gets the service's words; the host, port and library message go to the log.
    assert body["detail"] == "the numbers backend could not be reached"
    assert sum("retrying the numbers backend" in r.getMessage() for r in caplog.records) == 2
    assert any(f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records)


async def test_broken_connection_hides_address(backend: ServerProcess) -> None:
    """A broken connection names no address to the client."""
    status, body, _ = await total_of(backend.url + "/faults/drop")
    assert status == 502
    assert body["detail"] == "the connection to the numbers backend broke mid-body"


async def test_url_password_masked_in_log(backend: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    """A password in the URL is masked in the log."""
    caplog.set_level(logging.INFO)
    url = backend.url.replace("http://", "http://reader:s3cret-pw@") + "/numbers"
    status, body, _ = await total_of(url)
    assert (status, body) == (200, {"total": 499500})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "reader:***@127.0.0.1" in logged
    assert "s3cret-pw" not in logged


@pytest.fixture(scope="module")
def guarded_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A reference backend that asks every request for the bearer token `s3cret-token`."""
    log_dir = tmp_path_factory.mktemp("guarded")
    with reference_backend(log_dir, count=1000, options=["--token", "s3cret-token"]) as process:
        yield process


async def test_bearer_token_is_sent(guarded_backend: ServerProcess) -> None:
    """The bearer token is sent to the backend."""
    status, body, _ = await total_of(guarded_backend.url + "/numbers", numbers_api_token="s3cret-token")
    assert (status, body) == (200, {"total": 499500})


async def test_refused_token_shown_nowhere(
    guarded_backend: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused token is a 502 that shows the token nowhere."""
    caplog.set_level(logging.DEBUG)
    status, body, _ = await total_of(guarded_backend.url + "/numbers", numbers_api_token="wr0ng-token")
    assert status == 502
    assert body["detail"] == "the numbers backend answered HTTP 401"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP 401" in logged
    assert "wr0ng-token" not in logged + str(body)


async def test_retries_stay_inside_the_deadline(backend: ServerProcess) -> None:
    url = f"{backend.url}/faults/flaky?fail=1000&key=deadline"
    status, body, _ = await total_of(url, numbers_api_retries=20, numbers_api_timeout=0.3)
    assert status == 504
    assert "did not deliver within 0.3 s" in body["detail"]


async def test_503_answers_are_retried(backend: ServerProcess) -> None:
    status, body, _ = await total_of(f"{backend.url}/faults/flaky?fail=2&key=retried", numbers_api_retries=2)
    assert (status, body) == (200, {"total": 45})


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_errors_are_retried(backend: ServerProcess, status: int) -> None:
    """A 502 or a 504 from the backend is asked again, as a 503 is."""
    url = f"{backend.url}/faults/flaky?fail=2&status={status}&key=retried-{status}"
    assert await total_of(url, numbers_api_retries=2) == (200, {"total": 45}, "application/json")


@pytest.mark.parametrize("status", [500, 404, 429])
async def test_other_statuses_not_retried(backend: ServerProcess, status: int) -> None:
    """Error statuses other than 503 are not retried."""
    # The backend answers `status` once, then the numbers: a retry would get them.
    url = f"{backend.url}/faults/flaky?fail=1&status={status}&key=not-retried-{status}"
    got, body, _ = await total_of(url, numbers_api_retries=2)
    assert got == 502
    assert f"answered HTTP {status}" in body["detail"]


async def test_retries_give_up(backend: ServerProcess) -> None:
    """Retries give up after NUMBERS_API_RETRIES, and the next request is a fresh fetch."""
    url = f"{backend.url}/faults/flaky?fail=2&key=gave-up"
    async with service(url, numbers_api_retries=1) as (_, client):
        failed = await client.get("/total")
        # The service keeps serving: the next request is a fresh fetch, and the backend
        # (its third answer) has recovered.
        recovered = await client.get("/total")
    assert failed.status_code == 502
    assert "answered HTTP 503" in (await failed.get_json())["detail"]
    assert (recovered.status_code, await recovered.get_json()) == (200, {"total": 45})


async def test_breaker_answers_503_at_once(backend: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    """The breaker answers 503 at once while the backend keeps failing."""
    caplog.set_level(logging.INFO)
    # Three answers of 500, then the numbers: only a request the breaker lets through gets them.
    url = f"{backend.url}/faults/flaky?fail=3&status=500&key=breaker"
    async with service(url, numbers_api_breaker_failures=3, numbers_api_breaker_seconds=0.5) as (_, client):
        failed = [await client.get("/total") for _ in range(3)]
        refused = await client.get("/total")
        health = await client.get("/healthz")
        await asyncio.sleep(0.6)
        recovered = await client.get("/total")
    assert [response.status_code for response in failed] == [502] * 3
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert refused.content_type == "application/problem+json"
    assert (await refused.get_json())["title"] == "Numbers backend unavailable"
    assert health.status_code == 200
    # Had the breaker asked the backend, this request would have had the numbers.
    assert (recovered.status_code, await recovered.get_json()) == (200, {"total": 45})
    messages = [r.getMessage() for r in caplog.records]
    assert any("circuit breaker open" in m for m in messages)
    assert any("circuit breaker closed" in m for m in messages)


async def test_one_http_session(backend: ServerProcess) -> None:
    """One HTTP session for the server's lifetime."""
    source = HttpNumbers(backend.url + "/numbers", token=None, max_bytes=2**20)
    app = create_app(Config(), source=source)
    async with app.test_app():
        client = app.test_client()
        session = source._session
        assert session is not None
        await client.get("/total")
        await client.get("/total")
        assert source._session is session
        assert not session.closed
    assert session.closed


def test_config_selects_the_http_backend() -> None:
    assert isinstance(numbers_source(Config(numbers_api_url="http://127.0.0.1:9/numbers")), HttpNumbers)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_numbers(backend: ServerProcess, encoding: str) -> None:
    url = f"{backend.url}/numbers?encoding={encoding}&client=coding-{encoding}"
    status, body, _ = await total_of(url)
    assert (status, body) == (200, {"total": 499500})
    async with aiohttp.ClientSession() as session, session.get(f"{backend.url}/stats") as stats:
        assert (await stats.json())[f"coding-{encoding}"]["accept_encoding"] == "gzip, deflate"


async def test_compression_ratio_alone_is_no_error(backend: ServerProcess) -> None:
    """A million zeros: 2,000,001 bytes that gzip makes about 2 KB of."""
    url = f"{backend.url}/numbers?kind=zeros&count=1000000&encoding=gzip"
    status, body, _ = await total_of(url, numbers_api_max_bytes=2_000_001)
    assert (status, body) == (200, {"total": 0})


@pytest.mark.parametrize("encoding", ["xyz", "br", "zstd"])
async def test_unasked_coding_is_502(backend: ServerProcess, encoding: str) -> None:
    """A coding not asked for is a 502 naming it."""
    status, body, _ = await total_of(json_url(backend, "[1,2]") + f"&encoding={encoding}")
    assert status == 502
    assert f"Content-Encoding '{encoding}', which the service did not ask for" in body["detail"]


async def test_gzip_bomb_refused_at_limit(backend: ServerProcess) -> None:
    """A gzip bomb is refused when it crosses the limit.

    2 GiB of spaces in 2 MB: refused at 100 MB, long before a deadline of a minute.
    """
    url = f"{backend.url}/faults/gzip-bomb"
    status, body, _ = await total_of(url, numbers_api_max_bytes=100_000_000, numbers_api_timeout=60)
    assert status == 502
    assert (
        body["detail"] == "the numbers backend's body is larger than NUMBERS_API_MAX_BYTES (100000000 bytes)"
    )


@pytest.mark.parametrize("path", ["/numbers", "/numbers?encoding=gzip", "/json?body=%5B1%5D"])
async def test_the_limit_counts_every_body(backend: ServerProcess, path: str) -> None:
    """The 1,000 numbers are 3,890 bytes: a limit one byte short refuses them, one of that size does not."""
    status, body, _ = await total_of(backend.url + path, numbers_api_max_bytes=len(body_of(path)) - 1)
    assert status == 502
    assert "larger than NUMBERS_API_MAX_BYTES" in body["detail"]
    status, body, _ = await total_of(backend.url + path, numbers_api_max_bytes=len(body_of(path)))
    assert status == 200


def body_of(path: str) -> bytes:
    return b"[1]" if path.startswith("/json") else ("[" + ",".join(map(str, range(1000))) + "]").encode()


async def test_announced_length_over_limit(backend: ServerProcess) -> None:
    """A Content-Length over the limit is refused before the body is read, not at the deadline."""
    status, body, _ = await total_of(
        backend.url + "/faults/huge-length", numbers_api_max_bytes=1_000_000, numbers_api_timeout=30
    )
    assert (status, body["detail"]) == (
        502,
        "the numbers backend's body is larger than NUMBERS_API_MAX_BYTES (1000000 bytes)",
    )


async def test_announced_length_at_limit(backend: ServerProcess) -> None:
    status, body, _ = await total_of(json_url(backend, "[1,2]") + "&chunked=off", numbers_api_max_bytes=5)
    assert (status, body) == (200, {"total": 3})
