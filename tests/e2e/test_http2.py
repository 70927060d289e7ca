"""HTTP/2 (h2c, prior knowledge) end to end on a real `python -m app`: the same answers and limits
as HTTP/1.1, a body refused on its stream, and the drain."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.settings
import pytest

from app.config import Config
from app.serve import KEEP_ALIVE_SECONDS, hypercorn_config
from app.web.problems import MAX_HEAD_BYTES, MAX_HEADERS
from tests.e2e.http2_client import Answer, Http2Client
from tests.e2e.test_workers import start_two
from tests.processes import LOOPBACK, ServerProcess, service

FULL_TOTAL = b'{"total":50000005000000}\n'
Headers = list[tuple[str, str]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with service({"NUMBERS_API_DELAY": "0.2"}, tmp_path_factory.mktemp("http2")) as process:
        yield process


async def http11(
    port: int, method: str, path: str, headers: Headers, body: bytes | None
) -> tuple[int, dict[str, str], bytes]:
    """One request over its own HTTP/1.1 connection, written byte for byte: status, headers, body."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}", *(f"{k}: {v}" for k, v in headers)]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode() + (body or b""))
    answer = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), {k.lower(): v for k, v in fields.items()}, content


async def test_total_exact(server: ServerProcess) -> None:
    async with Http2Client(server.port) as client:
        total, head = await asyncio.gather(client.request("GET", "/total"), client.request("HEAD", "/total"))
    assert (total.status, total.headers["content-type"], total.body) == (200, "application/json", FULL_TOTAL)
    assert (head.status, head.headers["content-length"], head.body) == (200, str(len(FULL_TOTAL)), b"")


def filler(count: int, size: int = 1) -> Headers:
    return [(f"x-filler-{n}", "v" * size) for n in range(count)]


# Each request as both protocols carry it; HTTP/1.1 adds Host and Connection, HTTP/2 :authority.
CASES = {
    "unknown path": ("GET", "/no-such-path", [], None, 404),
    "method the path does not take": ("DELETE", "/total", [], None, 405),
    "unknown method": ("FROB", "/total", [], None, 405),
    "OPTIONS": ("OPTIONS", "/total", [], None, 204),
    "a body on GET": ("GET", "/total", [], b"x" * 100, 413),
    "a body on a method not taken": ("POST", "/total", [], b"x", 405),
    "headers up to the limit": ("GET", "/healthz", filler(MAX_HEADERS - 2), None, 200),
    "one header too many": ("GET", "/healthz", filler(MAX_HEADERS), None, 431),
    "a head just under 16 KiB": ("GET", "/healthz", filler(1, MAX_HEAD_BYTES - 200), None, 200),
    "a head just over 16 KiB": ("GET", "/healthz", filler(1, MAX_HEAD_BYTES), None, 431),
    "a 20 KiB header": ("GET", "/total", filler(1, 20 * 1024), None, 431),
    "40 KB of headers": ("GET", "/total", filler(10, 4000), None, 431),
}


@pytest.mark.parametrize("case", CASES)
async def test_same_answer_as_http11(server: ServerProcess, case: str) -> None:
    """The same status, media type and problem over HTTP/2 as over HTTP/1.1, with Allow where
    HTTP/1.1 has it."""
    method, path, headers, body, status = CASES[case]
    one_one = await http11(server.port, method, path, headers, body)
    async with Http2Client(server.port) as client:
        two = await client.request(method, path, headers, body)
    assert (one_one[0], two.status) == (status, status)
    assert one_one[1].get("content-type") == two.headers.get("content-type")
    assert one_one[1].get("allow") == two.headers.get("allow")
    if status >= 400:
        assert two.headers["content-type"] == "application/problem+json"
        assert json.loads(two.body) == json.loads(one_one[2])
    assert "connection" not in two.headers  # connection-specific: HTTP/2 has none


async def test_body_without_length_refused(server: ServerProcess) -> None:
    """A stream left open after its HEADERS carries a body: 413, as a chunked body over HTTP/1.1."""
    async with Http2Client(server.port) as client:
        stream = await client.send("GET", "/total", body=b"x" * 10, end=False)
        answer = await client.answer(stream)
    assert (answer.status, answer.headers["content-type"]) == (413, "application/problem+json")


async def test_body_after_the_answer_dropped(server: ServerProcess) -> None:
    """DATA sent after the 413 resets that stream (NO_ERROR), and the connection goes on serving."""
    async with Http2Client(server.port) as client:
        stream = await client.send("GET", "/total", [("content-length", "100000")], b"x" * 1000, end=False)
        refused = await client.answer(stream)
        client.h2.send_data(stream, b"y" * 1000)
        await client.write(client.h2.data_to_send())
        await asyncio.sleep(0.2)
        health = await client.request("GET", "/healthz")
    assert refused.status == 413
    assert refused.reset == h2.errors.ErrorCodes.NO_ERROR
    assert (health.status, health.body) == (200, b'{"status":"ok"}\n')
    assert not client.closed.is_set()


async def test_head_past_what_the_server_reads(server: ServerProcess) -> None:
    """Header fields beyond h2_max_header_list_size never reach the app: the stream or the
    connection is refused with no answer, and other connections are served."""
    async with Http2Client(server.port) as client:
        stream = await client.send("GET", "/total", filler(1, 70_000))
        await asyncio.wait_for(client.answers[stream].done.wait(), 5)
        answer = client.answers[stream]
    assert answer.status is None
    assert answer.reset is not None or client.closed.is_set()
    async with Http2Client(server.port) as client:
        assert (await client.request("GET", "/healthz")).status == 200


def start(env: dict[str, str], log_dir: Path) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "app"], {"NUMBERS_API_COUNT": "1000", **env}, log_dir)


async def test_drain(tmp_path: Path) -> None:
    """SIGTERM: while draining, /readyz is 503 on an open HTTP/2 connection; then every
    connection gets GOAWAY, the stream in flight is answered, a new stream is refused, idle
    connections close at once, and the process exits 0."""
    server = start({"NUMBERS_API_DELAY": "2.0", "DRAIN_SECONDS": "1", "GRACEFUL_TIMEOUT": "8"}, tmp_path)
    with server:
        async with Http2Client(server.port) as idle, Http2Client(server.port) as busy:
            await idle.request("GET", "/healthz")
            in_flight = await busy.send("GET", "/total")
            await asyncio.to_thread(server.wait_for_log, "fetching numbers")
            server.terminate()
            await asyncio.to_thread(server.wait_for_log, "draining for 1 s")
            readiness = await busy.request("GET", "/readyz")
            await asyncio.wait_for(idle.closed.wait(), 3)
            refused = await busy.request("GET", "/healthz")  # after the GOAWAY
            answered = await busy.answer(in_flight)
            last_answer = time.monotonic()
            await asyncio.wait_for(busy.closed.wait(), 3)
        exit_code = await asyncio.to_thread(server.process.wait, 10)
        exited = time.monotonic()
    assert (readiness.status, readiness.headers["content-type"]) == (503, "application/problem+json")
    for client in (idle, busy):
        assert [goaway.error_code for goaway in client.goaways][:1] == [h2.errors.ErrorCodes.NO_ERROR]
    assert busy.goaways[0].last_stream_id >= in_flight
    assert refused.reset == h2.errors.ErrorCodes.REFUSED_STREAM
    assert (answered.status, answered.body) == (200, b'{"total":499500}\n')
    assert exit_code == 0
    # Out soon after the last answer: the idle connection did not hold it for the grace period.
    assert exited - last_answer < 1.5
    assert "Traceback" not in server.stderr()


async def test_stuck_stream_ends_at_the_grace_period(tmp_path: Path) -> None:
    """A stream whose client never opens its window holds the process to the grace period, no
    longer, and the process still exits 0 with nothing logged amiss."""
    server = start({"NUMBERS_API_DELAY": "0", "GRACEFUL_TIMEOUT": "2"}, tmp_path)
    with server:
        shut = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
        async with Http2Client(server.port, settings=shut) as client:
            stream = await client.send("GET", "/total")
            await asyncio.sleep(0.5)
            assert not client.answers[stream].done.is_set()
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            exit_code = await asyncio.to_thread(server.process.wait, 10)
            waited = time.monotonic() - signalled
            await asyncio.wait_for(client.closed.wait(), 3)
    assert exit_code == 0
    assert 1.5 < waited < 2 + 1
    assert "Traceback" not in server.stderr()
    assert "ERROR" not in server.stderr()


async def test_keep_alive_max_requests(server: ServerProcess) -> None:
    """After keep_alive_max_requests streams a connection gets GOAWAY; the streams in flight at
    that moment are answered all the same, and the next one, read with them, is refused."""
    limit = hypercorn_config(Config()).keep_alive_max_requests
    async with Http2Client(server.port) as client:
        answers: list[Answer] = []
        for _ in range(limit // 50):
            # The last round asks once more than the connection takes, in one write. Sent apart,
            # the extra stream could reach the server once it had answered the rest and closed
            # the connection: no reset then, the GOAWAY's stream id telling the client that the
            # stream was not taken (RFC 9113, 6.8).
            extra = 1 if len(answers) == limit - 50 else 0
            answers += await client.requests_at_once(50 + extra, "GET", "/healthz")
        await asyncio.wait_for(client.closed.wait(), 3)
    *served, refused = answers
    assert [answer.status for answer in served] == [200] * limit
    assert [(goaway.error_code, goaway.last_stream_id) for goaway in client.goaways][:1] == [
        (0, 2 * limit - 1)
    ]
    assert (refused.status, refused.reset) == (None, h2.errors.ErrorCodes.REFUSED_STREAM)


def healthz_request(protocol: str) -> bytes:
    """GET /healthz as the first bytes of a connection, over `protocol`."""
    if protocol == "HTTP/1.1":
        return f"GET /healthz HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    request = [(":method", "GET"), (":path", "/healthz"), (":scheme", "http"), (":authority", LOOPBACK)]
    client.send_headers(1, request, end_stream=True)
    return client.data_to_send()


@pytest.mark.parametrize("protocol", ["HTTP/1.1", "HTTP/2"])
async def test_closed_once_the_client_is_done(server: ServerProcess, protocol: str) -> None:
    """A keep-alive connection whose client has sent its end is closed by the server at once:
    Hypercorn kept it, its socket and its tasks, until the keep-alive timer ran out."""
    reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
    writer.write(healthz_request(protocol))
    await asyncio.wait_for(reader.readuntil(b'"ok"'), 15)  # the answer's body
    writer.write_eof()
    await asyncio.wait_for(reader.read(), KEEP_ALIVE_SECONDS / 2)  # to the server's end
    writer.close()
    assert reader.at_eof()


async def test_workers_exit_zero_with_http2_connections(tmp_path: Path) -> None:
    """WORKERS=2: on SIGTERM with an idle HTTP/2 connection and a stuck stream open, every
    worker exits 0 (the supervisor's status says so) once the grace period ends."""
    env = {"WORKERS": "2", "NUMBERS_API_DELAY": "0", "GRACEFUL_TIMEOUT": "2"}
    with start_two({"NUMBERS_API_COUNT": "1000", **env}, tmp_path) as server:
        shut = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
        async with Http2Client(server.port) as idle, Http2Client(server.port, settings=shut) as stuck:
            assert (await idle.request("GET", "/healthz")).status == 200
            await stuck.send("GET", "/total")
            await asyncio.sleep(0.5)
            server.terminate()
            exit_code = await asyncio.to_thread(server.process.wait, 15)
    assert exit_code == 0
    assert "exited with status" not in server.stderr()
    assert "Traceback" not in server.stderr()
