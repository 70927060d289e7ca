"""app.http2: the frame cutter, the count of answers, the bound on unread answers, and what the
layer relies on in Hypercorn (these fail if Hypercorn changes under it)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import hypercorn.protocol
import pytest
from h2.errors import ErrorCodes
from hypercorn.asyncio.task_group import TaskGroup
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h2 import H2Protocol
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

from app import http2
from app.http2 import FRAMES_PER_TURN, MAX_UNREAD_ANSWERS, PREFACE, BoundedH2Protocol, FrameCutter


def frames(data: bytes) -> Iterator[tuple[int, int]]:
    """(type, length) of each whole frame in `data`."""
    position = 0
    while position + 9 <= len(data):
        length = int.from_bytes(data[position : position + 3], "big")
        yield data[position + 3], length
        position += 9 + length


class TestFrameCutter:
    def test_turns_end_at_frames(self) -> None:
        """Each turn holds at most FRAMES_PER_TURN whole frames, and together they are the input."""
        pings = [PingFrame(0, opaque_data=b"%08d" % n).serialize() for n in range(100)]
        data = PREFACE + b"".join(pings)
        turns = list(FrameCutter().turns(data))
        assert b"".join(turns) == data
        assert turns[0].startswith(PREFACE)
        counts = [len(list(frames(turn.removeprefix(PREFACE)))) for turn in turns]
        assert counts == [FRAMES_PER_TURN] * (100 // FRAMES_PER_TURN) + [100 % FRAMES_PER_TURN]

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
    assert http2.answers_in(sent) == 3


class Writer:
    """What `_refuse` reaches through TCPServer: a writer and its transport."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.transport = self

    def write(self, data: bytes) -> None:
        self.written.extend(data)

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class Server:
    """Stands for Hypercorn's TCPServer: what a protocol sends it."""

    writer: Writer = field(default_factory=Writer)
    events: list[Event] = field(default_factory=list)

    async def protocol_send(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, RawData):
            self.writer.write(event.data)


@pytest.fixture
async def served() -> AsyncIterator[tuple[BoundedH2Protocol, Server]]:
    """A BoundedH2Protocol with no app, its server, and the client's preface sent."""
    server = Server()
    async with TaskGroup(asyncio.get_running_loop()) as task_group:
        protocol = BoundedH2Protocol(
            None,  # type: ignore[arg-type]  # no app: no request is made
            HypercornConfig(),
            WorkerContext(None),
            task_group,
            None,  # type: ignore[arg-type]
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


class TestHypercornUnderneath:
    """What app.http2 relies on in Hypercorn: each fails if a new Hypercorn changes it."""

    def test_the_class_is_chosen_by_name(self) -> None:
        """ProtocolWrapper makes its HTTP/2 protocol from the name `H2Protocol` in
        hypercorn.protocol, which install() replaces."""
        for method in (ProtocolWrapper.__init__, ProtocolWrapper.handle):
            assert "H2Protocol" in method.__code__.co_names
        http2.install()
        assert hypercorn.protocol.H2Protocol is BoundedH2Protocol  # type: ignore[attr-defined]

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
        assert "h2.events.DataReceived" in handled

    def test_send_is_the_servers(self) -> None:
        """The protocol's `send` is TCPServer.protocol_send, whose server keeps the writer."""
        assert "self.protocol_send" in inspect.getsource(TCPServer.run)
        assert "self.writer = writer" in inspect.getsource(TCPServer.__init__)

    def test_frames_are_hyperframes(self) -> None:
        """Frame headers are read by hand: 3 bytes of length, then type and flags."""
        data = PingFrame(0, opaque_data=b"12345678", flags=["ACK"]).serialize()
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        assert (length, data[3], data[4]) == (8, http2.PING, http2.ACK)
        assert isinstance(frame, PingFrame)
