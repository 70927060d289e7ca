"""Backends of the tests' own, passed to `create_app(source=...)`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from app.exact_sum import Chunk
from app.json_array import NumberArrayParser


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

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def chunks(self) -> AsyncGenerator[Chunk, None]:
        self.fetches += 1
        self.fetching.set()
        if self.gate is not None:
            await self.gate.wait()
        for chunk in self._chunks:
            yield chunk


class FailingSource(ListSource):
    """Fails every fetch with `error`."""

    def __init__(self, error: Exception) -> None:
        super().__init__([])
        self.error = error

    async def chunks(self) -> AsyncGenerator[Chunk, None]:
        self.fetches += 1
        raise self.error
        yield  # pragma: no cover  (makes this an async generator)
