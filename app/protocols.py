"""Hypercorn's HTTP/1.1 and HTTP/2 protocols with the bounds they lack (docs/design.md, "The
HTTP edge"), installed by `install()`.

Both protocols:
- **Stalled writes end the connection**: a write that cannot go out for SEND_STALL_SECONDS
  (a client that stopped reading, its buffers full) aborts the connection. Hypercorn has no
  write timeout, and such a client held its connection, and the app task answering it, for
  ever.
- **A connection ends when its client does**: once the client has sent its end, the server
  closes the connection. Hypercorn ended its requests but kept the connection, its socket and
  tasks, until the keep-alive timer ran out (KEEP_ALIVE_SECONDS, 5 s): under many short
  connections hundreds waited at once, and their objects, grown old, made the full garbage
  collections that held the loop for 50-200 ms.

HTTP/2 (h2c, prior knowledge or `Upgrade: h2c`, which Hypercorn serves on every plaintext
port), in `BoundedH2Protocol`:
- **Fair turns**: the bytes of one read are handed to the h2 library at most FRAMES_PER_TURN
  frames and one request at a time, and the loop serves others between turns. h2 spends
  30-40 us on a PING or SETTINGS frame, so a 64 KiB read of them held the loop for 0.1-0.3 s.
  After a turn that begins a request, the connection waits PASSES_PER_REQUEST more passes of
  the loop for each of its requests in progress: a connection's requests share the loop with
  everyone else's instead of one starting at every pass. After any turn, it also waits a pass
  for each PASS_SECONDS the h2 library took to read it (a large head's decoding). A stream
  opened and reset in the same turn (rapid reset's pattern) never begins an app task.
- **Unread answers bounded**: answers the server must send (PING and SETTINGS
  acknowledgements, RST_STREAM) count as unread until the client acknowledges a PING of ours
  sent after them; past MAX_UNREAD_ANSWERS the connection gets GOAWAY ENHANCE_YOUR_CALM and is
  closed, as Go's and Envoy's servers do (CVE-2019-9512, CVE-2019-9515). So does a connection
  whose answers wait SEND_STALL_SECONDS for a flow-control window the client keeps shut, and
  one whose client resets more than MAX_EARLY_RESETS streams before their answer, half of all
  it opened (rapid reset); keep_alive_max_requests bounds the streams of any connection.
- **One rule for a request body**: a request whose HEADERS frame does not end the stream
  carries a body; with no Content-Length it gets `Transfer-Encoding: chunked`, HTTP/1.1's way of
  saying so, for the app's check (app.web.problems). DATA that arrives after the answer is
  dropped, and the stream reset with NO_ERROR (RFC 9113, 8.1); Hypercorn raised KeyError on it
  and left the connection hanging.
- **GOAWAY that lets streams finish**: when the server stops, or a connection reaches
  keep_alive_max_requests streams, GOAWAY goes out, later streams are refused with
  REFUSED_STREAM (a client may retry them elsewhere), streams in flight are answered and the
  connection closes once idle. Hypercorn sent nothing to an idle connection when stopping,
  answered no stream in flight after its own GOAWAY, and, once the last stream ended, restarted
  a keep-alive timer inside a task group being cancelled, a RuntimeError (its open pull
  request #374).

It relies on Hypercorn's ProtocolWrapper choosing the classes by the names `H11Protocol` and
`H2Protocol` in `hypercorn.protocol`, on the methods and attributes it overrides or reads, and
on `send` being TCPServer.protocol_send, whose server holds the connection's writer and
closes it when sent `Closed`: tests/test_protocols.py fails if any of them changes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from time import perf_counter

import h2.events
import h2.exceptions
import hypercorn.protocol
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.events import Body, StreamClosed
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hyperframe.frame import GoAwayFrame

# The client's connection preface, before its first frame.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9
# Frames handed to the h2 library at once. PING and SETTINGS frames are the dearest (30-40 us
# each): 64 KiB of them in one go took 0.1-0.3 s; with 16 a turn a flood raised /healthz's p99
# on another connection to 12-14 ms, with 4 to 9-10 ms (tests/reliability's floods, by hand).
FRAMES_PER_TURN = 4
# A HEADERS frame starts a request, whose app task costs the loop ten times a PING or more: a
# turn holds at most one, so that a stream reset right after it is seen in the same turn.
# After a turn that begins a request, the loop passes the connection waits for each request
# of its own in progress, so that its requests share the loop with everyone else's instead
# of one beginning at every pass (1-2 ms of work each). A stream flood's probe p99 on another
# connection: 11.8-13.8 ms with 1, 8.8-11.8 ms with 3 (three pairs); h2load through one
# connection of 50 streams served as many requests a second with either.
PASSES_PER_REQUEST = 3
# And after any turn, a pass for each PASS_SECONDS the h2 library took to read it: what costs
# the loop more leaves the others more passes. The library decodes a head in one go, at
# about 0.3 us a decoded byte of Huffman-coded value (a 16 KB head 5 ms, a 64 KB one 22 ms;
# h11 parses the 64 KB one in 1 ms). A client sending 16 KB heads one request after another
# took the probe's p99 on another connection to 21-22 ms; with this, 16-17 ms (p90 14 -> 10,
# two pairs, by hand); h2load through one worker, a few percent at most (docs/design.md).
PASS_SECONDS = 0.00025
# Answers a client may leave unread: Envoy's default bound on queued control frames. A client
# that reads what it is sent acknowledges our PING within a round trip, long before this.
MAX_UNREAD_ANSWERS = 1000
# Streams a client may reset before their answer, once at least half of all it opened: more
# is a rapid reset (CVE-2023-44487), each stream an app task begun for nothing. Envoy closes a
# connection on the same terms, with its own figures.
MAX_EARLY_RESETS = 100
# Unread answers after which a PING of ours asks the client to show that it reads.
PROBE_AFTER = 100
# How long a write may wait for a client to read (HTTP/1.1 and HTTP/2), or answers for a
# flow-control window (HTTP/2), before the connection is ended: far longer than any client
# that reads needs, short enough that a client cannot hold a connection and its app task.
SEND_STALL_SECONDS = 10.0
# Frame types and flags (RFC 9113, 6).
HEADERS, RST_STREAM, SETTINGS, PING = 0x1, 0x3, 0x4, 0x6
ACK = 0x1


class FrameCutter:
    """Cuts what a client sends into turns of at most FRAMES_PER_TURN whole frames, of which at
    most one is a HEADERS frame (a request); the last turn of a read may end inside a frame,
    which the h2 library keeps until the rest comes."""

    def __init__(self) -> None:
        self._skip = len(PREFACE)  # bytes before the next frame header
        self._header = b""  # the part of the next frame header read so far

    def turns(self, data: bytes) -> Iterator[bytes]:
        start = position = frames = 0
        requests = False  # whether this turn holds a HEADERS frame
        while position < len(data):
            if self._skip:
                step = min(self._skip, len(data) - position)
                position += step
                self._skip -= step
                if self._skip == 0 and frames >= FRAMES_PER_TURN:
                    yield data[start:position]
                    start, frames, requests = position, 0, False
                continue
            header_start = position - len(self._header)  # before `start` if cut between reads
            needed = FRAME_HEADER - len(self._header)
            self._header += data[position : position + needed]
            position = min(position + needed, len(data))
            if len(self._header) < FRAME_HEADER:
                continue
            if self._header[3] == HEADERS:
                if requests:  # a second request: the next turn's
                    yield data[start:header_start]
                    start, frames = header_start, 0
                requests = True
            self._skip = int.from_bytes(self._header[:3], "big")  # its payload, passed over
            frames += 1
            self._header = b""
            if self._skip == 0 and frames >= FRAMES_PER_TURN:  # a frame with no payload ends here
                yield data[start:position]
                start, frames, requests = position, 0, False
        if start < len(data):
            yield data[start:]


def answers_in(data: bytes) -> int:
    """The answers among whole frames the server sends: PING and SETTINGS acknowledgements and
    RST_STREAM."""
    count = position = 0
    while position + FRAME_HEADER <= len(data):
        kind, flags = data[position + 3], data[position + 4]
        if kind == RST_STREAM or (kind in (PING, SETTINGS) and flags & ACK):
            count += 1
        position += FRAME_HEADER + int.from_bytes(data[position : position + 3], "big")
    return count


class BoundedSend:
    """A protocol's `send`, bounded: a write that cannot go out within SEND_STALL_SECONDS
    aborts the connection. Only a write that will wait (the transport's buffer past its high
    mark) gets a timer."""

    def __init__(self, send: Callable[[Event], Awaitable[None]]) -> None:
        self._send = send
        # TCPServer.protocol_send: its server holds the connection's writer.
        self.writer: asyncio.StreamWriter = send.__self__.writer  # type: ignore[attr-defined]

    async def __call__(self, event: Event) -> None:
        transport = self.writer.transport
        if not isinstance(event, RawData) or (
            transport.get_write_buffer_size() + len(event.data) <= transport.get_write_buffer_limits()[1]
        ):
            await self._send(event)
            return
        try:
            async with asyncio.timeout(SEND_STALL_SECONDS):
                await self._send(event)
        except TimeoutError:
            transport.abort()  # a close would wait for the client to read what is buffered


class BoundedH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 connection, bounded (see the module's docstring)."""

    async def initiate(self) -> None:
        self.send = BoundedSend(self.send)
        await super().initiate()

    async def handle(self, event: Event) -> None:
        await super().handle(event)
        if isinstance(event, Closed):  # the client has gone: the connection ends now
            await self.send(Closed())


class BoundedH2Protocol(H2Protocol):
    """Hypercorn's HTTP/2 connection, bounded (see the module's docstring)."""

    _cutter: FrameCutter
    _answers_sent = 0
    _answers_read = 0
    _probe: tuple[bytes, int] | None = None
    _watch: asyncio.Task[None] | None = None
    _gone_away = False  # a GOAWAY of ours sent: no new streams, closed once idle
    _taking = False  # a read is being handed to the h2 library, turn by turn
    _opened = 0  # streams the client opened, begun or not
    _early_resets = 0  # streams the client reset before their answer
    _last_sent = 0.0  # the loop's time when the connection last sent anything
    _send: BoundedSend

    async def initiate(
        self, headers: list[tuple[bytes, bytes]] | None = None, settings: bytes | None = None
    ) -> None:
        self._cutter = FrameCutter()
        self.send = self._send = BoundedSend(self.send)
        # Not in the connection's task group: the group waits for its tasks, and this one
        # waits for the server to stop.
        self._watch = asyncio.ensure_future(self._watch_until_closed())
        await super().initiate(headers, settings)

    async def handle(self, event: Event) -> None:
        if isinstance(event, RawData):
            await self._take(event.data)
            return
        if isinstance(event, Closed):
            self.closed = True
            for stream_id in list(self.streams):
                # One stream's end at a time: Hypercorn ended all at once, and 100 streams'
                # access-log lines and disconnects held the loop for 0.2 s.
                await self._close_stream(stream_id)
                await asyncio.sleep(0)
        await super().handle(event)
        if isinstance(event, Closed):
            await self._release()
            await self.send(Closed())  # the client has gone: the connection ends now

    async def _take(self, data: bytes) -> None:
        """What the client sent, to the h2 library a turn at a time, within the bounds; then, if
        a GOAWAY of ours has gone out and nothing is left to answer, the connection closed."""
        self._taking = True
        try:
            await self._take_turns(data)
        finally:
            self._taking = False
        if self._winding_down and self.idle and not self._ended:
            await self._close_idle()

    @property
    def _ended(self) -> bool:
        """Closed by the client, or by the server (its writer closing)."""
        return self.closed or self._send.writer.is_closing()

    @property
    def _winding_down(self) -> bool:
        """A GOAWAY of ours has gone out, or the server is stopping: no new streams."""
        return self._gone_away or self.context.terminated.is_set()

    async def _take_turns(self, data: bytes) -> None:
        for turn in self._cutter.turns(data):
            if self._ended:  # closed while others had their turn
                return
            if self._answers_sent - self._answers_read > MAX_UNREAD_ANSWERS:
                await self._refuse(ErrorCodes.ENHANCE_YOUR_CALM, b"too many unread answers")
                return
            if self._early_resets > MAX_EARLY_RESETS and 2 * self._early_resets >= self._opened:
                await self._refuse(ErrorCodes.ENHANCE_YOUR_CALM, b"too many streams reset")
                return
            begun = self.keep_alive_requests
            # Hypercorn's handle(RawData), with the h2 library's reading of the turn timed.
            started = perf_counter()
            try:
                events = self.connection.receive_data(turn)
            except h2.exceptions.ProtocolError:
                await self._flush()
                await self.send(Closed())
                return
            read = perf_counter() - started
            await self._handle_events(events)
            if self.closed or self.connection.state_machine.state == ConnectionState.CLOSED:
                return
            await self._ask_whether_read()
            # Others' turn: one pass of the loop; after a turn that began a request,
            # PASSES_PER_REQUEST more for each request of this connection in progress; after a
            # turn whose reading was dear, one more for each PASS_SECONDS of it; whichever is more.
            waits = PASSES_PER_REQUEST * len(self.streams) if self.keep_alive_requests > begun else 0
            for _ in range(1 + max(waits, int(read / PASS_SECONDS))):
                await asyncio.sleep(0)

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        # In order, but DATA one event at a time: a stream may be answered and closed while
        # the events before its DATA are handled (Hypercorn raised KeyError on that DATA).
        batch: list[h2.events.Event] = []
        for event in await self._admitted(events):
            if isinstance(event, h2.events.DataReceived):
                await super()._handle_events(batch)
                batch = []
                await self._take_data(event)
            else:
                batch.append(event)
        await super()._handle_events(batch)

    async def _admitted(self, events: list[h2.events.Event]) -> list[h2.events.Event]:
        """The events Hypercorn is to handle: none for a stream refused after a GOAWAY, or
        opened and reset in the same turn; our PING's acknowledgement noted."""
        kept: list[h2.events.Event] = []
        requested = set()  # streams that these events open
        for event in events:
            if isinstance(event, h2.events.PingAckReceived):
                self._note_read(event.ping_data)
            elif isinstance(event, h2.events.RequestReceived) and self._winding_down:
                self.connection.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
                continue
            elif isinstance(event, h2.events.RequestReceived):
                _mark_body(event)
                requested.add(event.stream_id)
                self._opened += 1
                if self._opened >= self.config.keep_alive_max_requests:
                    # The last stream this connection takes: Hypercorn's own GOAWAY, one stream
                    # later, left the streams in flight unanswered.
                    await self._go_away(event.stream_id)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id in requested:
                # Opened and reset in one turn, rapid reset's way: its app task is never begun.
                self._early_resets += 1
                requested.remove(event.stream_id)
                kept = [  # its DATA is given back by _take_data
                    e
                    for e in kept
                    if getattr(e, "stream_id", None) != event.stream_id
                    or isinstance(e, h2.events.DataReceived)
                ]
                continue
            elif isinstance(event, h2.events.StreamReset) and event.stream_id in self.streams:
                self._early_resets += 1
            kept.append(event)
        return kept

    async def _take_data(self, event: h2.events.DataReceived) -> None:
        """DATA to its stream, if the stream is still there; else given back (`_drop_data`)."""
        stream = self.streams.get(event.stream_id)
        if stream is None:
            self._drop_data(event)
            return
        await stream.handle(Body(stream_id=event.stream_id, data=event.data))
        self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    async def stream_send(self, event: StreamEvent) -> None:
        if isinstance(event, StreamClosed) and self._winding_down:
            # Hypercorn would restart the keep-alive timer here, in a task group that may be
            # cancelled by now: close the connection instead, as its HTTP/1.1 side does.
            await self._close_stream(event.stream_id)
            # Not while a read is being taken: its later turns may hold streams to refuse
            # (REFUSED_STREAM tells the client that it may send them again); `_take` closes.
            if self.idle and not self._taking:
                await self._close_idle()
            return
        await super().stream_send(event)

    async def _release(self) -> None:
        """Once the connection is closed: the answers it could not send given up, so that no
        app task waits on them, as Hypercorn left those of a client gone mid-answer."""
        if self._watch is not None:
            self._watch.cancel()
        for buffer in list(self.stream_buffers.values()):
            await buffer.close()

    async def _flush(self) -> None:
        data = self.connection.data_to_send()
        if data:
            self._answers_sent += answers_in(data)
            self._last_sent = asyncio.get_running_loop().time()
            await self.send(RawData(data=data))

    def _drop_data(self, event: h2.events.DataReceived) -> None:
        """DATA for a stream with no app task (answered, or never begun): given back to flow
        control, and a stream still open reset once its answer has gone out."""
        self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        stream = self.connection.streams.get(event.stream_id)
        if event.stream_id not in self.stream_buffers and stream is not None and not stream.closed:
            self.connection.reset_stream(event.stream_id, ErrorCodes.NO_ERROR)

    async def _ask_whether_read(self) -> None:
        """A PING of ours after PROBE_AFTER unread answers: its acknowledgement shows that the
        client has read everything sent before it."""
        if self._probe is None and self._answers_sent - self._answers_read >= PROBE_AFTER:
            # Random, so that a client cannot acknowledge a PING it has not read.
            self._probe = (os.urandom(8), self._answers_sent)
            self.connection.ping(self._probe[0])
            await self._flush()

    def _note_read(self, data: bytes) -> None:
        if self._probe is not None and data == self._probe[0]:
            self._answers_read = self._probe[1]
            self._probe = None

    async def _refuse(self, error: ErrorCodes, reason: bytes) -> None:
        """GOAWAY with `error`, and the connection closed, unread data or not."""
        writer = self._send.writer
        if writer.is_closing():
            return
        self.connection.close_connection(error, additional_data=reason)
        writer.write(self.connection.data_to_send())
        if writer.transport.get_write_buffer_size():
            writer.transport.abort()  # a client that does not read would keep it open
        await self.send(Closed())

    async def _watch_until_closed(self) -> None:
        """GOAWAY when the server stops; until then, the connection ended when answers have
        waited SEND_STALL_SECONDS with nothing sent (a flow-control window kept shut)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self.context.terminated.wait(), SEND_STALL_SECONDS / 2)
                break
            except TimeoutError:
                waiting = any(buffer.buffer for buffer in self.stream_buffers.values())
                if waiting and loop.time() - self._last_sent >= SEND_STALL_SECONDS:
                    await self._refuse(ErrorCodes.ENHANCE_YOUR_CALM, b"answers left unread")
                    return
        if self.closed:
            return
        if self.idle:
            await self._close_idle()
        else:
            await self._go_away(self.connection.highest_inbound_stream_id)

    async def _go_away(self, last_stream_id: int) -> None:
        """GOAWAY (NO_ERROR) once: streams up to `last_stream_id` are still answered."""
        if self._gone_away:
            return
        self._gone_away = True
        # Written past the h2 library, which sends nothing at all after a GOAWAY of its own.
        goaway = GoAwayFrame(0, last_stream_id=last_stream_id)
        await self.send(RawData(data=goaway.serialize()))

    async def _close_idle(self) -> None:
        self.connection.close_connection()
        await self._flush()
        await self.send(Closed())


def _mark_body(request: h2.events.RequestReceived) -> None:
    """A request whose HEADERS frame left the stream open has a body: say so as HTTP/1.1 would."""
    if request.stream_ended is None and all(name != b"content-length" for name, _ in request.headers):
        request.headers = [*request.headers, (b"transfer-encoding", b"chunked")]


def install() -> None:
    """Serve HTTP/1.1 and HTTP/2 with the bounded protocols."""
    hypercorn.protocol.H11Protocol = BoundedH11Protocol  # type: ignore[attr-defined]
    hypercorn.protocol.H2Protocol = BoundedH2Protocol  # type: ignore[attr-defined]
