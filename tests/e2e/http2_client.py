"""A small HTTP/2 client over h2c with prior knowledge, for the tests: several streams at once on
one connection, every event kept, raw frames when a test wants to misbehave.

The h2 library, as a client, takes nothing after a GOAWAY (the responses to streams in flight
included), which RFC 9113 allows and a draining server sends: GOAWAY frames are read here and
kept from it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType

import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import Frame, GoAwayFrame

LOOPBACK = "127.0.0.1"
GOAWAY = 0x7
# Time enough for any answer of the service, a /total's fetch included.
ANSWER_SECONDS = 15.0


@dataclass
class Answer:
    """What the server did with one stream."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: int | None = None  # the RST_STREAM error code, if the server reset the stream
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Http2Client:
    """One h2c connection to 127.0.0.1:port; `async with` opens and closes it."""

    def __init__(self, port: int, settings: dict[h2.settings.SettingCodes, int] | None = None) -> None:
        self.port = port
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self._settings = settings or {}
        self.answers: dict[int, Answer] = {}
        self.events: list[h2.events.Event] = []
        self.closed = asyncio.Event()  # the server closed the connection
        self.goaways: list[GoAwayFrame] = []
        self._unread = b""  # the part of a frame not received whole yet
        self._reader: asyncio.StreamReader
        self._writer: asyncio.StreamWriter
        self._pump: asyncio.Task[None]

    async def __aenter__(self) -> Http2Client:
        self._reader, self._writer = await asyncio.open_connection(LOOPBACK, self.port)
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values=self._settings)
        self.h2.initiate_connection()
        await self._flush()
        self._pump = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pump.cancel()
        self._writer.close()

    async def _read(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for event in self.h2.receive_data(self._without_goaways(data)):
                    self._note(event)
                await self._flush()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed.set()
            for answer in self.answers.values():
                answer.done.set()

    def _without_goaways(self, data: bytes) -> bytes:
        """`data` less the GOAWAY frames in it, which are kept in `goaways`."""
        buffer, kept, position = self._unread + data, bytearray(), 0
        while position + 9 <= len(buffer):
            end = position + 9 + int.from_bytes(buffer[position : position + 3], "big")
            if end > len(buffer):
                break
            if buffer[position + 3] == GOAWAY:
                frame, _ = Frame.parse_frame_header(memoryview(buffer[position : position + 9]))
                frame.parse_body(memoryview(buffer[position + 9 : end]))
                assert isinstance(frame, GoAwayFrame)
                self.goaways.append(frame)
            else:
                kept += buffer[position:end]
            position = end
        self._unread = buffer[position:]
        return bytes(kept)

    def _note(self, event: h2.events.Event) -> None:
        self.events.append(event)
        answer = self.answers.get(getattr(event, "stream_id", 0))
        if answer is None:
            return
        if isinstance(event, h2.events.ResponseReceived):
            headers = {name.decode(): value.decode() for name, value in event.headers}
            answer.status = int(headers.pop(":status"))
            answer.headers = headers
        elif isinstance(event, h2.events.DataReceived):
            answer.body += event.data
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            answer.reset = event.error_code
            answer.done.set()
        elif isinstance(event, h2.events.StreamEnded):
            answer.done.set()

    async def _flush(self) -> None:
        self._writer.write(self.h2.data_to_send())
        await self._writer.drain()

    async def send(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        end: bool = True,
    ) -> int:
        """Start a request; its stream id. With `end` false, the stream stays open after `body`."""
        stream = self._open(method, path, headers, body, end)
        await self._flush()
        return stream

    async def requests_at_once(self, count: int, method: str, path: str) -> list[Answer]:
        """`count` alike requests in one write, which the server reads together; their answers."""
        streams = [self._open(method, path) for _ in range(count)]
        await self._flush()
        return list(await asyncio.gather(*(self.answer(stream) for stream in streams)))

    def _open(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        end: bool = True,
    ) -> int:
        stream = self.h2.get_next_available_stream_id()
        self.answers[stream] = Answer()
        pseudo = [(":method", method), (":path", path), (":scheme", "http"), (":authority", LOOPBACK)]
        self.h2.send_headers(stream, [*pseudo, *(headers or [])], end_stream=end and body is None)
        if body is not None:
            self.h2.send_data(stream, body, end_stream=end)
        return stream

    async def answer(self, stream: int) -> Answer:
        """The server's answer on `stream`, within ANSWER_SECONDS."""
        answer = self.answers[stream]
        await asyncio.wait_for(answer.done.wait(), ANSWER_SECONDS)
        return answer

    async def request(
        self, method: str, path: str, headers: list[tuple[str, str]] | None = None, body: bytes | None = None
    ) -> Answer:
        return await self.answer(await self.send(method, path, headers, body))

    async def write(self, data: bytes) -> None:
        """Bytes of the test's own making, past the h2 library."""
        self._writer.write(data)
        await self._writer.drain()
