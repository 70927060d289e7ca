"""Hostile clients against a real `python -m app`: each is refused or cut off within a stated
bound, never answered 500, and a normal request sent meanwhile is served as usual."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.config import Config
from app.protocols import SEND_STALL_SECONDS
from app.serve import KEEP_ALIVE_SECONDS, hypercorn_config
from app.web.docs import SWAGGER_UI_FILES
from app.web.problems import MAX_HEADERS
from tests.processes import LOOPBACK, ServerProcess, service
from tests.reliability.conftest import rss_kib

pytestmark = pytest.mark.reliability

TOTAL = b'{"total":499500}\n'
# A refusal comes at once; "at once" allows for a loaded 2-core machine.
AT_ONCE = 1.0
# A request of a normal client during an attack: usually 60-100 ms here (the backend's
# delay is 50 ms); the bound only says it was not held up behind the attack.
USUAL = 1.0
# The connections the server's socket queues before it accepts them (Hypercorn's default).
LISTEN_BACKLOG = hypercorn_config(Config()).backlog


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.05"}
    with service(env, tmp_path_factory.mktemp("hostile")) as process:
        yield process


def open_fds(server: ServerProcess) -> int:
    return len(list(Path(f"/proc/{server.process.pid}/fd").iterdir()))


async def exchange(port: int, data: bytes) -> tuple[bytes, float]:
    """Send `data` and read until the server closes: what it answered and when it closed."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(data)
        await writer.drain()
    except ConnectionError:  # the server refused and closed while we were still sending
        pass
    try:
        answer = await asyncio.wait_for(reader.read(), 30)
    except ConnectionError:
        answer = b""
    writer.close()
    return answer, time.monotonic() - started


def status_of(answer: bytes) -> int | None:
    """The status code of the first response in `answer`; None if the server closed silently."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


async def normal_request(port: int) -> tuple[bytes, float]:
    """GET /total as a well-behaved client: the body and how long it took."""
    answer, elapsed = await exchange(port, b"GET /total HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return answer.partition(b"\r\n\r\n")[2], elapsed


@asynccontextmanager
async def normal_client_alongside(port: int) -> AsyncIterator[None]:
    """Checks that a normal request made while the block's attack runs is served as usual."""
    await asyncio.sleep(0.2)  # let the attack start first
    request = asyncio.ensure_future(normal_request(port))
    yield
    body, elapsed = await request
    assert body == TOTAL
    assert elapsed < USUAL


REQUEST = b"GET /total HTTP/1.1\r\nHost: x\r\n"
HEADERS = b"".join(b"X-Filler-%d: v\r\n" % n for n in range(1000))


@pytest.mark.parametrize(
    ("name", "data", "statuses"),
    [
        ("garbage", b"\x16\x03\x01\x00\xff garbage, not HTTP\r\n\r\n", {400}),
        ("1 MB request line", b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {431}),
        ("1,000 headers", REQUEST + HEADERS + b"\r\n", {431}),
        ("100 KB header", REQUEST + b"X-Big: " + b"v" * 100_000 + b"\r\n\r\n", {431}),
        ("1 MB body", REQUEST + b"Content-Length: 1000000\r\n\r\n" + b"x" * 1_000_000, {413}),
        ("Content-Length 1 GB, no body", REQUEST + b"Content-Length: 1000000000\r\n\r\n", {413}),
        ("chunked body", REQUEST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", {413}),
        ("POST, 1-byte body", b"POST /total HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", {405}),
        (
            "POST, 1 GB announced",
            b"POST /total HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
            {405},
        ),
    ],
)
async def test_bad_request_refused_at_once(
    server: ServerProcess, name: str, data: bytes, statuses: set[int]
) -> None:
    """A bad request is refused at once and the connection closed."""
    async with normal_client_alongside(server.port):
        answer, elapsed = await exchange(server.port, data)
    assert status_of(answer) in statuses, answer[:200]
    assert elapsed < AT_ONCE  # and closed: exchange read to the end
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"application/problem+json" in head:  # refused by the service, not by Hypercorn's parser
        assert json.loads(body)["status"] == status_of(answer)


async def test_headers_up_to_the_limit_are_served(server: ServerProcess) -> None:
    headers = b"".join(b"X-Filler-%d: v\r\n" % n for n in range(MAX_HEADERS - 2))  # with Host, Connection
    answer, _ = await exchange(server.port, REQUEST + headers + b"Connection: close\r\n\r\n")
    assert status_of(answer) == 200


async def test_slowloris_connections_closed(server: ServerProcess) -> None:
    """Slowloris connections are closed after the keep-alive timeout."""

    async def trickle() -> float:
        """One byte of a header a second, never finishing it: how long the connection lived."""
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
        writer.write(REQUEST)
        try:
            while time.monotonic() - started < 3 * KEEP_ALIVE_SECONDS:
                writer.write(b"X")
                await writer.drain()
                try:
                    if not await asyncio.wait_for(reader.read(1024), 1.0):
                        break  # closed by the server
                except TimeoutError:
                    continue  # still open
        except ConnectionError:
            pass
        writer.close()
        return time.monotonic() - started

    before = rss_kib(server)
    async with normal_client_alongside(server.port):
        lifetimes = await asyncio.gather(*(trickle() for _ in range(200)))
    assert max(lifetimes) < KEEP_ALIVE_SECONDS + 3
    assert min(lifetimes) >= KEEP_ALIVE_SECONDS - 0.5
    assert rss_kib(server) < before + 10_240


async def idle_connections(server: ServerProcess, count: int) -> list[float]:
    """Hold `count` keep-alive connections, each idle after one request, until the server
    closes them; a normal request is served meanwhile. How long each stayed open idle."""

    # Connecting at most a listen backlog's worth at a time: past the backlog the kernel
    # drops the SYNs and the client sends them again 1, 3, 7 s later, which spread one CI
    # burst over more than the keep-alive timeout (89 of 2,000 answered within it).
    connecting = asyncio.Semaphore(LISTEN_BACKLOG)

    async def idle_after_one_request() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
        async with connecting:
            reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b'{"status":"ok"}\n')
        # The writer kept: dropping it would close the connection here.
        return reader, writer, time.monotonic()

    async def idle_time(reader: asyncio.StreamReader, answered: float) -> float:
        assert await reader.read() == b""  # closed by the server, nothing sent
        return time.monotonic() - answered

    connections = await asyncio.gather(*(idle_after_one_request() for _ in range(count)))
    # Every connection answered idles for the keep-alive timeout, so all are open at once
    # unless connecting them all took nearly that long (a loaded CI machine took over 5 s):
    # those answered less than the timeout ago (with a margin for this read) must be open.
    now = time.monotonic()
    due_open = sum(now - answered < KEEP_ALIVE_SECONDS - 0.5 for _, _, answered in connections)
    assert open_fds(server) >= due_open > count / 2
    body, elapsed = await normal_request(server.port)
    assert (body, elapsed < USUAL) == (TOTAL, True)
    idle = [idle_time(reader, answered) for reader, _, answered in connections]
    times = await asyncio.wait_for(asyncio.gather(*idle), 3 * KEEP_ALIVE_SECONDS)
    for _, writer, _ in connections:
        writer.close()
    return times


async def test_idle_connections_closed(server: ServerProcess) -> None:
    """Idle keep-alive connections are closed and their memory reused."""
    # At most as many as before: one may still be closing from an earlier client.
    idle_fds = open_fds(server)
    before = rss_kib(server)
    idle = await idle_connections(server, 2000)
    # Each closed once idle for the keep-alive timeout. The client notes each answer when
    # its loop gets to it, which during 2,000 connects can be a second or more after the
    # server sent it: hence the loose lower bound (the point is that none closes early).
    assert min(idle) > KEEP_ALIVE_SECONDS / 2
    assert max(idle) < KEEP_ALIVE_SECONDS + 3
    await asyncio.sleep(0.5)
    assert open_fds(server) <= idle_fds
    after_first = rss_kib(server)
    # The allocator keeps what 2,000 connections took (about 20 KiB each) for reuse rather
    # than giving it back: later bursts must reuse it. A leak would add as much again with
    # each burst; two more add less than half of it (a loaded machine's bursts differ a
    # little in what they hold at once: in CI the second added 8 MiB to the first's 43).
    taken = after_first - before
    assert taken < 2000 * 30
    for _ in range(2):
        await idle_connections(server, 2000)
    await asyncio.sleep(0.5)
    assert open_fds(server) <= idle_fds
    assert rss_kib(server) < after_first + taken / 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (b"/total", 200),
        (b"/total?x=1", 200),  # query parameters are ignored
        (b"/%74otal", 200),  # percent-encoded letters are the letters
        (b"//total", 200),  # an empty first segment is dropped
        (b"http://example.test/total", 200),  # the absolute form names the same path
        (b"/total/", 404),  # no trailing slash
        (b"/total%2F", 404),
        (b"/TOTAL", 404),  # paths are case-sensitive
        (b"/" + b"a" * 8000, 404),
        (b"*", 404),
    ],
)
async def test_unusual_paths_have_a_defined_answer(server: ServerProcess, path: bytes, status: int) -> None:
    answer, _ = await exchange(
        server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == status
    head, _, body = answer.partition(b"\r\n\r\n")
    if status == 200:
        assert body == TOTAL
    else:
        assert b"application/problem+json" in head


async def unread_connection(port: int, data: bytes) -> tuple[float, bytes]:
    """Send `data` on a connection whose client reads nothing (a 4 KiB receive buffer, so that
    the server's answers back up at once) until SEND_STALL_SECONDS and a second have passed,
    then reads to the end: how long the server kept the connection, and what it sent."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    started = time.monotonic()
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(SEND_STALL_SECONDS + 1)
    received = bytearray()
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 2 * KEEP_ALIVE_SECONDS):
            received += chunk
    except ConnectionError:
        pass
    writer.close()
    return time.monotonic() - started, bytes(received)


# Swagger UI's 1.4 MB script, asked for five times on one connection: more than the kernel's
# buffers take (4 MB here), so that the server's writes wait for the client.
BUNDLES = 5
BUNDLE = b"GET /docs/assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n"
BUNDLE_END = (SWAGGER_UI_FILES / "swagger-ui-bundle.js").read_bytes()[-40:]


async def test_client_that_stops_reading_is_cut(server: ServerProcess) -> None:
    """A client that stops reading its answers has its connection ended once a write has
    waited SEND_STALL_SECONDS: it gets a part of what it asked for and the end (Hypercorn alone
    kept the connection, and its app task, until the client read everything)."""
    async with normal_client_alongside(server.port):
        kept, received = await unread_connection(server.port, BUNDLE * BUNDLES)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(BUNDLE_END) < BUNDLES
    assert kept < SEND_STALL_SECONDS + 1 + 2 * KEEP_ALIVE_SECONDS


async def test_pipelined_requests_answered_in_turn(server: ServerProcess) -> None:
    """10,000 requests pipelined by a client that reads: answered in turn while another client
    is served as usual, up to keep_alive_max_requests, after which the connection is closed."""
    limit = hypercorn_config(Config()).keep_alive_max_requests
    async with normal_client_alongside(server.port):
        reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 10_000)
        answers = await asyncio.wait_for(reader.read(), 60)  # to the server's close
        writer.close()
    assert answers.count(b"HTTP/1.1 200 ") == answers.count(b'{"status":"ok"}\n') == limit
    assert answers.count(b"connection: close") == 1
