"""app.protocols: the frame cutter, the count of answers, the bound on unread answers and on
stalled writes, and what the layer relies on in Hypercorn (these fail if it changes under it)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import hypercorn.protocol
import pytest
from h2.errors import ErrorCodes
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ConnectionState, Scope
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

from app import protocols
from app.protocols import (
    FRAMES_PER_TURN,
    MAX_EARLY_RESETS,
    MAX_UNREAD_ANSWERS,
    PASSES_PER_REQUEST,
    PREFACE,
    BoundedH2Protocol,
    BoundedH11Protocol,
    BoundedSend,
    FrameCutter,
)


def frames(data: bytes) -> Iterator[tuple[int, int]]:
    """(type, length) of each whole frame in `data`."""
    position = 0
    while position + 9 <= len(data):
        length = int.from_bytes(data[position : position + 3], "big")
        yield data[position + 3], length
        position += 9 + length


class TestFrameCutter:
    def test_one_request_a_turn(self) -> None:
        """A turn holds at most one HEADERS frame, and the frames after it up to the next one:
        a stream reset right after it is in the same turn."""
        opened = HeadersFrame(1, data=b"x" * 20, flags=["END_HEADERS", "END_STREAM"]).serialize()
        reset = RstStreamFrame(1).serialize()
        turns = list(FrameCutter().turns(PREFACE + (opened + reset) * 10))
        assert turns == [PREFACE + opened + reset] + [opened + reset] * 9

    def test_turns_end_at_frames(self) -> None:
        """Each turn holds at most FRAMES_PER_TURN whole frames, and together they are the input."""
        pings = [PingFrame(0, opaque_data=b"%08d" % n).serialize() for n in range(100)]
        data = PREFACE + b"".join(pings)
        turns = list(FrameCutter().turns(data))
        assert b"".join(turns) == data
        assert turns[0].startswith(PREFACE)
        counts = [len(list(frames(turn.removeprefix(PREFACE)))) for turn in turns]
        assert counts == [FRAMES_PER_TURN] * (100 // FRAMES_PER_TURN) + [100 % FRAMES_PER_TURN] * bool(
            100 % FRAMES_PER_TURN
        )

    def test_frames_split_across_reads(self) -> None:
        """Frames cut between reads: every turn ends where a frame or a read ends, and no more
        than FRAMES_PER_TURN frames end within one."""
        data = PREFACE + DataFrame(1, data=b"x" * 1000).serialize() + SettingsFrame(0).serialize() * 40
        frame_ends, position = set(), len(PREFACE)
        for _, length in frames(data[len(PREFACE) :]):
            position += 9 + length
            frame_ends.add(position)
        reads = [30, 500, 1040, len(data)]
        cutter = FrameCutter()
        turns = [turn for a, b in zip([0, *reads], reads, strict=False) for turn in cutter.turns(data[a:b])]
        assert b"".join(turns) == data
        ends = [sum(map(len, turns[: n + 1])) for n in range(len(turns))]
        assert set(ends) <= frame_ends | set(reads)
        for begin, end in zip([0, *ends], ends, strict=False):
            assert sum(begin < frame_end <= end for frame_end in frame_ends) <= FRAMES_PER_TURN
        assert len(turns) > len(reads)  # the 40 SETTINGS were cut into turns


def test_answers_counted() -> None:
    """PING and SETTINGS acknowledgements and RST_STREAM are answers; the rest is not."""
    sent = b"".join(
        frame.serialize()
        for frame in (
            PingFrame(0, flags=["ACK"]),
            SettingsFrame(0, flags=["ACK"]),
            RstStreamFrame(3),
            PingFrame(0),  # a PING of ours
            SettingsFrame(0),
            HeadersFrame(1, data=b"x", flags=["END_HEADERS"]),
            DataFrame(1, data=b"y" * 20_000),
        )
    )
    assert protocols.answers_in(sent) == 3


class Writer:
    """What the layer reaches through TCPServer: a writer and its transport, whose buffer holds
    `buffered` bytes."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.transport = self
        self.buffered = 0
        self.aborted = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.extend(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 16 * 1024, 64 * 1024

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted or self.closed


@dataclass
class Server:
    """Stands for Hypercorn's TCPServer: what a protocol sends it; with `stalled` set, a write
    waits until it is cleared, as one to a client that does not read."""

    writer: Writer = field(default_factory=Writer)
    events: list[Event] = field(default_factory=list)
    stalled: asyncio.Event | None = None

    async def protocol_send(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Closed):
            self.writer.closed = True  # as TCPServer closes its writer
        if isinstance(event, RawData):
            self.writer.write(event.data)
            if self.stalled is not None:
                await self.stalled.wait()


class TestBoundedSend:
    async def test_a_stalled_write_aborts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A write past the transport's high mark that cannot go out in time aborts the connection."""
        monkeypatch.setattr(protocols, "SEND_STALL_SECONDS", 0.05)
        server = Server(stalled=asyncio.Event())
        server.writer.buffered = 64 * 1024
        await BoundedSend(server.protocol_send)(RawData(data=b"x"))
        assert server.writer.aborted

    async def test_a_write_that_does_not_wait_is_untimed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Below the high mark the write is handed on as it is, with no timer to end it."""
        monkeypatch.setattr(protocols, "SEND_STALL_SECONDS", 0.0)
        server = Server()
        await BoundedSend(server.protocol_send)(RawData(data=b"x" * 1000))
        assert (bytes(server.writer.written), server.writer.aborted) == (b"x" * 1000, False)


async def unanswering_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answers nothing: waits for the client to go away."""
    while (await receive())["type"] != "http.disconnect":
        pass


@pytest.fixture
async def served() -> AsyncIterator[tuple[BoundedH2Protocol, Server]]:
    """A BoundedH2Protocol serving an app that never answers, its server, and the client's
    preface sent."""
    server = Server()
    async with TaskGroup(asyncio.get_running_loop()) as task_group:
        protocol = BoundedH2Protocol(
            ASGIWrapper(unanswering_app),
            HypercornConfig(),
            WorkerContext(None),
            task_group,
            ConnectionState({}),
            False,
            None,
            None,
            server.protocol_send,
        )
        await protocol.initiate()
        await protocol.handle(RawData(data=PREFACE + SettingsFrame(0).serialize()))
        yield protocol, server
        await protocol.handle(Closed())


def received(server: Server) -> list[h2.events.Event]:
    """What a client makes of everything the server wrote."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    return client.receive_data(bytes(server.writer.written))


async def test_unread_answers_end_the_connection(served: tuple[BoundedH2Protocol, Server]) -> None:
    """A client that never acknowledges our PING gets GOAWAY ENHANCE_YOUR_CALM once
    MAX_UNREAD_ANSWERS are unread, and the connection is closed."""
    protocol, server = served
    flood = PingFrame(0, opaque_data=b"flooding").serialize() * (2 * MAX_UNREAD_ANSWERS)
    await protocol.handle(RawData(data=flood))
    events = received(server)
    answers = [e for e in events if isinstance(e, h2.events.PingAckReceived)]
    assert MAX_UNREAD_ANSWERS <= len(answers) < MAX_UNREAD_ANSWERS + FRAMES_PER_TURN + 1
    assert isinstance(events[-1], h2.events.ConnectionTerminated)
    assert events[-1].error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert any(isinstance(event, Closed) for event in server.events)


async def test_a_client_that_reads_is_not_cut(served: tuple[BoundedH2Protocol, Server]) -> None:
    """A client that acknowledges our PINGs may send any number of its own."""
    protocol, server = served
    for _ in range(3 * MAX_UNREAD_ANSWERS // 100):
        await protocol.handle(RawData(data=PingFrame(0, opaque_data=b"flooding").serialize() * 100))
        ours = [
            event.ping_data
            for event in received(server)
            if isinstance(event, h2.events.PingReceived) and event.ping_data != b"flooding"
        ]
        if ours:
            await protocol.handle(RawData(data=PingFrame(0, opaque_data=ours[-1], flags=["ACK"]).serialize()))
    assert not any(isinstance(event, h2.events.ConnectionTerminated) for event in received(server))
    assert not any(isinstance(event, Closed) for event in server.events)


async def loop_passes_during(work: Awaitable[None]) -> int:
    """How many passes the event loop made while `work` ran."""
    passes = 0

    async def count_passes() -> None:
        nonlocal passes
        while True:
            passes += 1
            await asyncio.sleep(0)

    counter = asyncio.ensure_future(count_passes())
    await asyncio.sleep(0)
    before = passes
    await work
    counter.cancel()
    return passes - before


async def test_a_connection_waits_for_its_requests_in_progress(
    served: tuple[BoundedH2Protocol, Server],
) -> None:
    """After a turn that begins a request, the connection gives the loop P more passes
    (PASSES_PER_REQUEST) for each of its requests in progress (here none ends: the app never
    answers): for three requests in one read, 1 + P, 1 + 2P and 1 + 3P passes, where one pass
    a turn would be 3."""
    protocol, _ = served
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.data_to_send()  # the preface, sent by the fixture
    request = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")]
    for _ in range(3):
        client.send_headers(client.get_next_available_stream_id(), request, end_stream=True)
    passes = await loop_passes_during(protocol.handle(RawData(data=client.data_to_send())))
    assert len(protocol.streams) == 3
    assert passes >= sum(1 + PASSES_PER_REQUEST * n for n in (1, 2, 3))


async def test_a_dear_turn_leaves_the_others_more_passes(
    served: tuple[BoundedH2Protocol, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a turn the h2 library took 20.5 PASS_SECONDS to read (a clock that says so), the
    connection gives the loop 1 + 20 passes before its next turn, where a turn would be 1."""
    protocol, _ = served
    # Half a pass over 20, so that rounding in the division cannot make it 19.
    ticks = itertools.count(0, 20.5)
    monkeypatch.setattr(protocols, "perf_counter", lambda: next(ticks) * protocols.PASS_SECONDS)
    ping = PingFrame(0, opaque_data=b"12345678").serialize()
    assert await loop_passes_during(protocol.handle(RawData(data=ping))) >= 1 + 20


@pytest.mark.parametrize("apart", [False, True], ids=["in one read", "in two reads"])
async def test_early_resets_end_the_connection(served: tuple[BoundedH2Protocol, Server], apart: bool) -> None:
    """Streams opened and reset before their answer (rapid reset): past MAX_EARLY_RESETS, GOAWAY
    ENHANCE_YOUR_CALM and the connection closed, long before keep_alive_max_requests. A stream
    reset in the turn that opens it never begins an app task; one reset later has begun it."""
    protocol, server = served
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.data_to_send()  # the preface, sent by the fixture
    request = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")]
    for _ in range(MAX_EARLY_RESETS + 10):
        stream = client.get_next_available_stream_id()
        client.send_headers(stream, request, end_stream=True)
        if apart:
            await protocol.handle(RawData(data=client.data_to_send()))
        client.reset_stream(stream, ErrorCodes.CANCEL)
        await protocol.handle(RawData(data=client.data_to_send()))
        if protocol.closed or any(isinstance(event, Closed) for event in server.events):
            break
    goaways = [e for e in received(server) if isinstance(e, h2.events.ConnectionTerminated)]
    assert [goaway.error_code for goaway in goaways] == [ErrorCodes.ENHANCE_YOUR_CALM]
    begun = protocol.keep_alive_requests  # Hypercorn's count of the streams it began
    assert begun == (MAX_EARLY_RESETS + 1 if apart else 0)


class TestHypercornUnderneath:
    """What app.protocols relies on in Hypercorn: each fails if a new Hypercorn changes it."""

    def test_the_classes_are_chosen_by_name(self) -> None:
        """ProtocolWrapper makes its protocols from the names `H11Protocol` and `H2Protocol` in
        hypercorn.protocol, which install() replaces."""
        assert {"H11Protocol", "H2Protocol"} <= set(ProtocolWrapper.__init__.__code__.co_names)
        assert "H2Protocol" in ProtocolWrapper.handle.__code__.co_names
        protocols.install()
        assert hypercorn.protocol.H11Protocol is BoundedH11Protocol  # type: ignore[attr-defined]
        assert hypercorn.protocol.H2Protocol is BoundedH2Protocol  # type: ignore[attr-defined]

    def test_h11_initiate(self) -> None:
        """HTTP/1.1's `send` is wrapped in initiate(), which TCPServer calls before any data,
        and used through the attribute."""
        assert list(inspect.signature(H11Protocol.initiate).parameters) == ["self"]
        assert "self.send(" in inspect.getsource(H11Protocol)
        assert "await self.protocol.initiate()" in inspect.getsource(TCPServer.run)

    @pytest.mark.parametrize(
        ("name", "parameters"),
        [
            ("initiate", ["self", "headers", "settings"]),
            ("handle", ["self", "event"]),
            ("_handle_events", ["self", "events"]),
            ("stream_send", ["self", "event"]),
            ("_flush", ["self"]),
            ("_close_stream", ["self", "stream_id"]),
        ],
    )
    def test_overridden_and_called_methods(self, name: str, parameters: list[str]) -> None:
        method = getattr(H2Protocol, name)
        assert inspect.iscoroutinefunction(method)
        assert list(inspect.signature(method).parameters) == parameters

    def test_attributes_read(self, served: tuple[BoundedH2Protocol, Server]) -> None:
        """The attributes the layer reads, as H2Protocol sets them."""
        protocol, _ = served
        assert {"connection", "context", "send", "streams", "stream_buffers", "closed"} <= vars(
            protocol
        ).keys()
        assert isinstance(protocol.connection, h2.connection.H2Connection)
        assert isinstance(inspect.getattr_static(H2Protocol, "idle"), property)
        # The stream events are handled in _handle_events, whose keep-alive bound and
        # shutdown the layer counts on.
        handled = inspect.getsource(H2Protocol._handle_events)
        assert "keep_alive_max_requests" in handled
        # DATA is handed to its stream as Hypercorn does it (app.protocols does it itself).
        assert "Body(stream_id=event.stream_id, data=event.data)" in handled
        assert "acknowledge_received_data(" in handled

    def test_h2_handle_reads_raw_data_so(self) -> None:
        """The layer reads a turn's bytes as H2Protocol.handle does, the h2 library's part timed."""
        source = inspect.getsource(H2Protocol.handle)
        assert "events = self.connection.receive_data(event.data)" in source
        assert "except h2.exceptions.ProtocolError:\n                await self._flush()\n" in source
        assert "else:\n                await self._handle_events(events)" in source

    def test_send_is_the_servers(self) -> None:
        """The protocol's `send` is TCPServer.protocol_send, whose server keeps the writer and
        closes the connection when sent `Closed`."""
        assert "self.protocol_send" in inspect.getsource(TCPServer.run)
        assert "self.writer = writer" in inspect.getsource(TCPServer.__init__)
        assert "elif isinstance(event, Closed):\n            await self._close()" in inspect.getsource(
            TCPServer.protocol_send
        )

    def test_h11_handle(self) -> None:
        """HTTP/1.1's `handle` is where the client's end arrives, as `Closed`, from TCPServer."""
        assert inspect.iscoroutinefunction(H11Protocol.handle)
        assert list(inspect.signature(H11Protocol.handle).parameters) == ["self", "event"]
        assert "await self.protocol.handle(Closed())" in inspect.getsource(TCPServer._read_data)

    def test_frames_are_hyperframes(self) -> None:
        """Frame headers are read by hand: 3 bytes of length, then type and flags."""
        data = PingFrame(0, opaque_data=b"12345678", flags=["ACK"]).serialize()
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        assert (length, data[3], data[4]) == (8, protocols.PING, protocols.ACK)
        assert isinstance(frame, PingFrame)
