"""Backends of the tests' own, passed to `create_app(source=...)`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType

import numpy as np
from quart import Response
from quart.typing import TestClientProtocol

from app.numbers.errors import BackendError, BackendStatusError
from app.numbers.exact_sum import Chunk
from app.numbers.json_array import NumberArrayParser
from app.numbers.numbers_api import Reply, Validator
from app.numbers.pacing import Pacer


def parsed(body: bytes) -> list[Chunk]:
    """The chunks the HTTP backend's parser makes of `body`, a whole JSON array."""
    parser = NumberArrayParser()
    chunks = list(parser.feed(body))
    parser.close()
    return chunks


class ListSource:
    """Delivers fixed chunks, counting its fetches; `gate`, if given, holds each fetch."""

    description = "test backend"

    def __init__(self, chunks: Sequence[Chunk], gate: asyncio.Event | None = None) -> None:
        self._chunks = chunks
        self.gate = gate
        self.fetches = 0
        self.fetching = asyncio.Event()
        self.opened = False
        self.closed = False

    async def serving(self) -> AsyncGenerator[None, None]:
        self.opened = True
        yield
        self.closed = True

    async def begin_fetch(self) -> int:
        """Count a fetch, and hold it at the gate; its number, from 1."""
        self.fetches += 1
        number = self.fetches
        self.fetching.set()
        if self.gate is not None:
            await self.gate.wait()
        return number

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        number = await self.begin_fetch()
        yield Reply(None, self.numbers(number))

    async def numbers(self, number: int) -> AsyncGenerator[Chunk, None]:
        """The chunks of fetch `number`."""
        for chunk in self._chunks:
            yield chunk


class FailingSource(ListSource):
    """Fails every fetch with `error`."""

    def __init__(self, error: Exception) -> None:
        super().__init__([])
        self.error = error

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        self.fetches += 1
        raise self.error
        yield  # pragma: no cover  (makes this an async generator)


class NumberedSource(ListSource):
    """Fetch n totals n, so that an answer tells which fetch it came from; the fetches
    numbered in `failing` fail with HTTP 500 instead."""

    def __init__(self, failing: Sequence[int] = (), gate: asyncio.Event | None = None) -> None:
        super().__init__([], gate)
        self.failing = set(failing)

    async def numbers(self, number: int) -> AsyncGenerator[Chunk, None]:
        if number in self.failing:
            raise BackendStatusError(500)
        yield np.array([number], dtype=np.int64)


class FlakySource(ListSource):
    """Fails its first requests with `errors`, in order, before delivering the chunks."""

    def __init__(self, errors: list[BackendError]) -> None:
        super().__init__([np.array([5], dtype=np.int64)])
        self.errors = errors

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        self.fetches += 1
        if self.errors:
            raise self.errors.pop(0)
        yield Reply(None, self.numbers(self.fetches))


class Clock:
    """A clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hold_the_cpu(seconds: float) -> None:
    """Work the CPU for `seconds` without letting the event loop run, as parsing or answering does."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


class LoopTurns:
    """Counts, while its block runs, the turns another task gets: one per `interval` at most,
    each holding the loop for `busy` seconds of CPU work (as answering requests does)."""

    def __init__(self, interval: float = 0.0, busy: float = 0.0) -> None:
        self.interval = interval
        self.busy = busy
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _count(self) -> None:
        while True:
            self.count += 1
            hold_the_cpu(self.busy)
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.create_task(self._count())
        await asyncio.sleep(0)
        self.count = 0
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()


@asynccontextmanager
async def requests_sharing_a_fetch(
    client: TestClientProtocol, source: ListSource, count: int
) -> AsyncIterator[list[asyncio.Task[Response]]]:
    """`count` GET /total requests, all arrived while `source`'s gate holds its one fetch;
    the gate opens when the block ends. Await the tasks after it for the responses."""
    assert source.gate is not None
    requests = [asyncio.create_task(client.get("/total")) for _ in range(count)]
    await source.fetching.wait()
    await asyncio.sleep(0.05)  # the other requests arrive and join the fetch
    try:
        yield requests
    finally:
        source.gate.set()
