"""End to end: `python -m app` as a real process on a loopback port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.processes import PROJECT, ServerProcess, reference_backend, second_instance, service

FULL_TOTAL = 50000005000000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The service with the default list of numbers and a short delay."""
    with service({"NUMBERS_API_DELAY": "0.2"}, tmp_path_factory.mktemp("server")) as process:
        yield process


async def get(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url, headers=headers) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_total_of_the_default_numbers(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/total")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body.strip() == b'{"total":%d}' % FULL_TOTAL


async def test_head_total(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/total", "HEAD")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(b'{"total":%d}\n' % FULL_TOTAL)
    assert body == b""


async def test_healthz(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/healthz")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body.strip() == b'{"status":"ok"}'


async def test_404_and_405_are_problem_json(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/no-such-path")
    assert (status, headers["Content-Type"]) == (404, "application/problem+json")
    assert b'"status": 404' in body
    status, headers, body = await get(server.url + "/total", "DELETE")
    assert (status, headers["Content-Type"]) == (405, "application/problem+json")
    assert "GET" in headers["Allow"]
    assert b"<html" not in body.lower()


async def test_access_log_on_stdout(server: ServerProcess) -> None:
    """One access log line per request, on stdout."""
    agent = f"access-log-test-{uuid.uuid4()}"
    async with (
        aiohttp.ClientSession(headers={"User-Agent": agent}) as session,
        session.get(server.url + "/healthz") as response,
    ):
        assert response.status == 200
    # Hypercorn writes the line just after the response: give it a moment.
    for _ in range(100):
        if agent in server.stdout():
            break
        await asyncio.sleep(0.02)
    lines = [line for line in server.stdout().splitlines() if agent in line]
    assert len(lines) == 1
    assert '"GET /healthz 1.1" 200' in lines[0]


async def test_request_id_kept(server: ServerProcess) -> None:
    """A client's well-formed X-Request-ID, its name in any case, comes back and names the request."""
    for name in ("X-Request-ID", "x-request-id", "x-REQUEST-Id"):
        given = f"e2e.{uuid.uuid4().hex}"
        status, headers, _ = await get(server.url + "/healthz", headers={name: given})
        assert (status, headers["X-Request-ID"]) == (200, given)
    status, headers, _ = await get(server.url + "/healthz", headers={"X-Request-ID": "not well formed!"})
    assert status == 200
    assert len(headers["X-Request-ID"]) == 32  # one of the service's own


async def test_json_logs_trace_shared_fetch(tmp_path: Path) -> None:
    """JSON logs trace each request to the fetch it shared."""
    env = {"LOG_FORMAT": "json", "NUMBERS_API_DELAY": "0.5", "NUMBERS_API_COUNT": "1000"}
    with service(env, tmp_path) as process:
        async with aiohttp.ClientSession() as session:

            async def total(request_id: str) -> None:
                headers = {"X-Request-ID": request_id}
                async with session.get(process.url + "/total", headers=headers) as response:
                    assert response.headers["X-Request-ID"] == request_id

            await asyncio.gather(*(total(f"shared-{n}") for n in range(3)))
            async with session.get(process.url + "/nowhere", headers={"X-Request-ID": "lost-1"}):
                pass
        process.stop()
    records = [json.loads(line) for line in process.stdout().splitlines()]  # every line is JSON
    assert process.stderr() == ""  # everything went to stdout
    shared = [r for r in records if str(r.get("request_id", "")).startswith("shared-")]
    assert len(shared) == 3
    fetch_ids = {r["fetch_id"] for r in shared}
    assert len(fetch_ids) == 1
    for record in shared:
        assert record["event"] == "request"
        assert (record["level"], record["method"], record["route"], record["path"]) == (
            "info",
            "GET",
            "/total",
            "/total",
        )
        assert record["status"] == 200
        assert record["bytes"] == len(b'{"total":499500}\n')
        assert 0.5 <= record["duration"] < 5
        assert "timestamp" in record
    fetch_lines = [r for r in records if r.get("fetch_id") in fetch_ids and r["event"] != "request"]
    assert any(r["event"].startswith("fetching numbers") for r in fetch_lines)
    finished = [r for r in fetch_lines if r.get("outcome") == "ok"]
    assert len(finished) == 1
    assert (finished[0]["count"], finished[0]["retries"]) == (1000, 0)
    assert finished[0]["duration"] >= 0.5
    lost = [r for r in records if r.get("request_id") == "lost-1"]
    assert [(r["route"], r["status"], r["fetch_id"]) for r in lost] == [("unmatched", 404, None)]


async def test_metrics_and_access_log_off(tmp_path: Path) -> None:
    """Metrics and the access log can be switched off."""
    env = {"METRICS": "off", "ACCESS_LOG": "off", "NUMBERS_API_DELAY": "0", "NUMBERS_API_COUNT": "10"}
    with service(env, tmp_path) as process:
        assert (await get(process.url + "/metrics"))[0] == 404
        assert (await get(process.url + "/total"))[0] == 200
        process.stop()
    assert process.stdout() == ""


async def test_log_level_keeps_warnings_drops_info(tmp_path: Path) -> None:
    """LOG_LEVEL=WARNING: the service logs a failed fetch, not the start of one; the access log
    is not the service's own log and goes on."""
    env = {
        "LOG_LEVEL": "WARNING",
        "NUMBERS_API_URL": "http://127.0.0.1:9/numbers",  # nothing listens on the discard port
        "NUMBERS_API_RETRIES": "0",
    }
    with service(env, tmp_path) as process:
        status, _, _ = await get(process.url + "/total")
        process.stop()
    assert status == 502
    assert "fetch failed after" in process.stderr()
    assert "fetching numbers" not in process.stderr()
    assert '"GET /total 1.1" 502' in process.stdout()


async def test_requests_share_one_fetch(tmp_path: Path) -> None:
    """Concurrent requests share one backend fetch."""
    with service({"NUMBERS_API_DELAY": "1.0", "NUMBERS_API_COUNT": "1000"}, tmp_path) as process:
        async with aiohttp.ClientSession() as session:

            async def total() -> int:
                async with session.get(process.url + "/total") as response:
                    assert response.status == 200
                    body: dict[str, int] = await response.json()
                    return body["total"]

            totals = await asyncio.gather(*(total() for _ in range(50)))
    assert totals == [499500] * 50
    assert process.stderr().count("fetching numbers") == 1


async def test_total_reused_and_revalidated(tmp_path: Path) -> None:
    """With a max age, a total is reused and revalidated with 304."""
    env = {"NUMBERS_API_COUNT": "1000", "TOTAL_MAX_AGE": "60"}
    with service(env, tmp_path) as process:
        status, headers, body = await get(process.url + "/total")
        not_modified, reused_headers, empty = await get(
            process.url + "/total", headers={"If-None-Match": headers["ETag"]}
        )
        assert process.stderr().count("fetching numbers") == 1
    assert (status, body.strip(), headers["Cache-Control"]) == (200, b'{"total":499500}', "max-age=60")
    assert (not_modified, empty, reused_headers["ETag"]) == (304, b"", headers["ETag"])
    assert "Content-Length" not in reused_headers  # it would have to be the 200's (RFC 9110)
    assert reused_headers["Server-Timing"].endswith("fetch;desc=fresh")


async def test_sigterm_finishes_requests(tmp_path: Path) -> None:
    """SIGTERM lets requests in flight finish, and the service exits 0."""
    process = ServerProcess([sys.executable, "-m", "app"], {"NUMBERS_API_DELAY": "1.0"}, tmp_path)
    try:
        async with aiohttp.ClientSession() as session:

            async def total() -> tuple[int, bytes]:
                async with session.get(process.url + "/total") as response:
                    return response.status, await response.read()

            requests = [asyncio.create_task(total()) for _ in range(10)]
            await asyncio.to_thread(process.wait_for_log, "fetching numbers")
            process.terminate()
            results = await asyncio.gather(*requests)
        exit_code = await asyncio.to_thread(process.process.wait, 15)
    finally:
        process.stop()
    assert [status for status, _ in results] == [200] * 10
    assert all(body.strip() == b'{"total":%d}' % FULL_TOTAL for _, body in results)
    assert exit_code == 0


async def test_sigterm_drain_fails_readiness(
    tmp_path: Path,
) -> None:
    """With drain seconds, SIGTERM fails readiness while every request is still served."""
    process = ServerProcess(
        [sys.executable, "-m", "app"], {"NUMBERS_API_DELAY": "1.0", "DRAIN_SECONDS": "60"}, tmp_path
    )
    try:
        assert (await get(process.url + "/readyz"))[0] == 200
        in_flight = [asyncio.create_task(get(process.url + "/total")) for _ in range(5)]
        await asyncio.to_thread(process.wait_for_log, "fetching numbers")
        process.terminate()
        await asyncio.to_thread(process.wait_for_log, "SIGTERM: draining for 60 s")
        status, headers, body = await get(process.url + "/readyz")
        assert (status, headers["Content-Type"], headers["Retry-After"]) == (
            503,
            "application/problem+json",
            "1",
        )
        assert json.loads(body)["title"] == "Draining"
        # New requests, on new connections, are served as before: liveness and totals.
        assert (await get(process.url + "/healthz"))[0] == 200
        after = await get(process.url + "/total")
        before = await asyncio.gather(*in_flight)
        # A second signal ends the drain at once: the process exits long before 60 s.
        process.terminate()
        exit_code = await asyncio.to_thread(process.process.wait, 15)
    finally:
        process.stop()
    for status, _, body in [*before, after]:
        assert (status, body.strip()) == (200, b'{"total":%d}' % FULL_TOTAL)
    assert exit_code == 0
    assert "drained" not in process.stderr()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NUMBERS_API_COUNT", "lots", "an integer >= 0"),
        ("HOST", "foo:bar", "a host name or IP address"),
        ("NUMBERS_API_URL", "http://127.0.0.1:99999/numbers", "an http:// or https:// URL"),
        ("NUMBERS_API_RETRIES", "1100", "an integer from 0 to 10"),
        ("GRACEFUL_TIMEOUT", "-1", "a number of seconds > 0"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("METRICS", "maybe", "on or off"),
        ("WORKERS", "0", "an integer from 1 to 64"),
    ],
)
def test_bad_setting_stops_start_up(name: str, value: str, expected: str) -> None:
    """A bad setting stops start-up with one line naming it, and exit code 2."""
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=PROJECT,
        env={name: value, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"total-service: configuration error: {name} must be {expected}, got {value!r}"
    ]


def test_settings_that_cannot_work_together_stop_start_up() -> None:
    """Credentials in NUMBERS_API_URL beside NUMBERS_API_TOKEN (each valid alone) stop start-up
    with one line and exit code 2, quoting neither secret."""
    env = {
        "NUMBERS_API_URL": "http://user:hunter2@127.0.0.1:9/numbers",
        "NUMBERS_API_TOKEN": "abc",
        "PATH": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "total-service: configuration error: NUMBERS_API_URL holds credentials and NUMBERS_API_TOKEN"
    )
    assert "hunter2" not in line
    assert "abc" not in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_address_in_use_stops_start_up(server: ServerProcess, workers: str) -> None:
    """An address in use stops start-up with one line, and exit code 1."""
    result = second_instance(server.port, workers)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"total-service: cannot serve on 127.0.0.1:{server.port}: ")


async def test_grace_period_ends_in_503(backend: ServerProcess, tmp_path: Path) -> None:
    """Requests a fetch cannot answer before the grace period ends get 503."""
    # The backend stalls mid-body for a minute; the deadline (30 s) outlasts the grace period (2 s).
    env = {
        "NUMBERS_API_URL": backend.url + "/faults/slow?seconds=60",
        "NUMBERS_API_TIMEOUT": "30",
        "GRACEFUL_TIMEOUT": "2",
    }
    process = ServerProcess([sys.executable, "-m", "app"], env, tmp_path)
    try:
        requests = [asyncio.create_task(get(process.url + "/total")) for _ in range(5)]
        await asyncio.to_thread(process.wait_for_log, "fetching numbers")
        process.terminate()
        started = time.monotonic()
        results = await asyncio.gather(*requests)
        waited = time.monotonic() - started
        exit_code = await asyncio.to_thread(process.process.wait, 15)
    finally:
        process.stop()
    for status, headers, body in results:
        assert (status, headers["Content-Type"], headers["Retry-After"]) == (
            503,
            "application/problem+json",
            "1",
        )
        assert json.loads(body)["title"] == "Service shutting down"
    assert 1.0 < waited < 2.0  # answered within the grace period, after most of it
    assert exit_code == 0
    assert "Traceback" not in process.stderr()


async def test_grace_period_follows_the_drain(tmp_path: Path) -> None:
    """The grace period starts when the drain ends: a fetch that outlasts GRACEFUL_TIMEOUT from
    the signal, but not the drain and the grace period together, is answered in full."""
    env = {
        "NUMBERS_API_DELAY": "3",
        "NUMBERS_API_COUNT": "1000",
        "DRAIN_SECONDS": "2",
        "GRACEFUL_TIMEOUT": "3",
    }
    with service(env, tmp_path) as process:
        request = asyncio.create_task(get(process.url + "/total"))
        await asyncio.to_thread(process.wait_for_log, "fetching numbers")
        process.terminate()
        status, _, body = await request
        exit_code = await asyncio.to_thread(process.process.wait, 15)
    # Counted from the signal, the grace period would have ended (503) before the fetch did.
    assert (status, body.strip()) == (200, b'{"total":499500}')
    assert exit_code == 0


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with reference_backend(tmp_path_factory.mktemp("backend"), count=10_000_001) as process:
        yield process


async def test_total_from_reference_backend(backend: ServerProcess, tmp_path: Path) -> None:
    """The total from the reference backend, running as a process."""
    with service({"NUMBERS_API_URL": backend.url + "/numbers"}, tmp_path) as process:
        status, headers, body = await get(process.url + "/total")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body.strip() == b'{"total":%d}' % FULL_TOTAL


async def test_faulty_backend_gets_502(backend: ServerProcess, tmp_path: Path) -> None:
    """A faulty backend gets a 502, and the service keeps serving."""
    with service({"NUMBERS_API_URL": backend.url + "/faults/not-a-number"}, tmp_path) as process:
        first = await get(process.url + "/total")
        health = await get(process.url + "/healthz")
        second = await get(process.url + "/total")
        stderr = process.stderr()
    for status, headers, body in (first, second):
        assert (status, headers["Content-Type"]) == (502, "application/problem+json")
        assert b"item 2 is a string, not a number" in body
    assert health[0] == 200
    assert "Traceback" not in stderr


async def test_304_in_access_log(backend: ServerProcess, tmp_path: Path) -> None:
    """Each request's record names its fetch, whose own record says the backend answered 304."""
    env = {"LOG_FORMAT": "json", "NUMBERS_API_URL": backend.url + "/numbers"}
    with service(env, tmp_path) as process:
        answers = [await get(process.url + "/total") for _ in range(2)]
        process.stop()
    assert [body.strip() for _, _, body in answers] == [b'{"total":%d}' % FULL_TOTAL] * 2
    records = [json.loads(line) for line in process.stdout().splitlines()]
    requests = [r for r in records if r["event"] == "request" and r["route"] == "/total"]
    outcomes = {r["fetch_id"]: r["outcome"] for r in records if "outcome" in r}
    assert [outcomes[r["fetch_id"]] for r in requests] == ["ok", "not_modified"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/json?body=%5B0e999999999,-0.0e999999999%5D", 200),
        ("/faults/gzip-bomb", 503),  # still decoding at SIGTERM: answered at the grace period's end
        ("/json?body=%5B1,2%5D&encoding=xyz", 502),
    ],
)
async def test_sigterm_after_hostile_body(
    backend: ServerProcess, tmp_path: Path, path: str, status: int
) -> None:
    """SIGTERM ends the service in time after a hostile body."""
    env = {
        "NUMBERS_API_URL": backend.url + path,
        "NUMBERS_API_MAX_BYTES": str(2**40),
        "NUMBERS_API_TIMEOUT": "30",
        "GRACEFUL_TIMEOUT": "2",
    }
    with service(env, tmp_path) as process:
        request = asyncio.create_task(get(process.url + "/total"))
        await asyncio.to_thread(process.wait_for_log, "fetching numbers")
        await asyncio.sleep(0.5)
        process.terminate()
        started = time.monotonic()
        exit_code = await asyncio.to_thread(process.process.wait, 10)
        waited = time.monotonic() - started
        answered, _, _ = await request
    assert (answered, exit_code) == (status, 0)
    assert waited < 2 + 1  # the grace period, and a second to exit
    assert "Traceback" not in process.stderr()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        # Past what Hypercorn buffers of a head (app.serve.HEAD_READ_LIMIT, read 64 KiB at a time).
        (b"GET /total HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n", 431),
    ],
)
async def test_hypercorn_answers_malformed_http(
    server: ServerProcess, request_bytes: bytes, status: int
) -> None:
    """Hypercorn answers malformed HTTP itself, with an empty body."""
    # The request never reaches the app, so it is not problem+json (README, "API").
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request_bytes)
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status)
    assert b"content-length: 0" in head.lower()
    assert body == b""
    assert (await get(server.url + "/healthz"))[0] == 200


async def exchange(server: ServerProcess, request: bytes) -> tuple[bytes, bytes]:
    """Send `request` on a connection of its own; the answer's head and body, read until the
    server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def fillers(count: int) -> bytes:
    return b"".join(b"X-Filler-%d: v\r\n" % n for n in range(count))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 1000000000\r\n", 413),  # announced, never sent: not waited for
        (fillers(100), 431),  # with Host: 101 headers
    ],
)
async def test_refused_unread_and_closed(server: ServerProcess, headers: bytes, status: int) -> None:
    """A request with a body, or with more than 100 headers, is refused as a problem without
    the service reading on, and the connection is closed."""
    head, body = await exchange(server, b"GET /total HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    fields = set(head.lower().split(b"\r\n"))
    # Closing said, and done: `exchange` read until the server closed.
    assert {b"connection: close", b"content-type: application/problem+json"} <= fields
    assert json.loads(body)["status"] == status


async def test_a_hundred_headers_served(server: ServerProcess) -> None:
    """100 headers, Host and Connection among them, are served."""
    head, body = await exchange(
        server, b"GET /total HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fillers(98) + b"\r\n"
    )
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body.strip() == b'{"total":%d}' % FULL_TOTAL
