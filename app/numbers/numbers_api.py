"""The backend client: where the numbers come from, chosen in one place from the config.

A source answers one request at a time (`request`): a `Reply` with the list's version and its
numbers chunk by chunk, or a BackendError. Retries, the deadline and the sum are the fetch's
(app.numbers.fetch), the same whichever source is in use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import numpy as np

from app.config import Config, masked_url
from app.numbers.content_coding import ACCEPT_ENCODING, IDENTITY, decoder_for
from app.numbers.errors import BackendConnectionError, BackendDataError, BackendStatusError
from app.numbers.exact_sum import Chunk
from app.numbers.json_array import NumberArrayParser
from app.numbers.pacing import Pacer

# 128K numbers (512 KiB of int32) per chunk: making and summing one takes about 70 us
# and it stays in the CPU's cache; larger chunks measured slower.
SIMULATED_CHUNK_SIZE = 131_072


@dataclass(frozen=True)
class Validator:
    """What names one version of the backend's list (RFC 9110, 8.8): its ETag, its Last-Modified."""

    etag: str | None
    last_modified: str | None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Validator | None:
        etag, last_modified = headers.get("ETag"), headers.get("Last-Modified")
        return cls(etag, last_modified) if etag or last_modified else None

    def conditions(self) -> dict[str, str]:
        """The request headers that ask for the list only if it is no longer this version."""
        # Both when both are known: a server that knows ETags ignores If-Modified-Since.
        headers = {"If-None-Match": self.etag} if self.etag else {}
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Reply:
    """The backend's answer to one request: the version of its list, and its numbers
    (None: not modified, the list is still the version the request named)."""

    validator: Validator | None
    chunks: AsyncGenerator[Chunk, None] | None


class NumbersSource(Protocol):
    """A backend of numbers."""

    description: str

    def serving(self) -> AsyncGenerator[None, None]:
        """Open what the source needs while the server serves (Quart's while_serving), then close it."""
        ...

    def request(self, known: Validator | None, pacer: Pacer) -> AbstractAsyncContextManager[Reply]:
        """Ask for the numbers once (only if no longer the `known` version); BackendError if
        the backend cannot be asked or answers an error. The reply's chunks are read inside the block."""
        ...


class SimulatedNumbers:
    """The embedded backend: after `delay` seconds it delivers the numbers 0..count-1."""

    def __init__(self, count: int, delay: float, chunk_size: int = SIMULATED_CHUNK_SIZE) -> None:
        self.count = count
        self.delay = delay
        self.chunk_size = chunk_size
        self.description = f"simulated backend ({count} numbers after {delay} s)"
        # The narrowest type that holds every number: int32 halves the memory traffic.
        self.dtype = np.int32 if count <= 2**31 else np.int64

    async def serving(self) -> AsyncGenerator[None, None]:
        yield

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        await asyncio.sleep(self.delay)
        yield Reply(None, self._chunks())

    async def _chunks(self) -> AsyncGenerator[Chunk, None]:
        # Made chunk by chunk, so memory does not grow with the count.
        for start in range(0, self.count, self.chunk_size):
            yield np.arange(start, min(start + self.chunk_size, self.count), dtype=self.dtype)


# Bytes read and handed to the parser at a time: parsing one piece takes well under a
# millisecond, and pieces of this size fetched the 10M list fastest (docs/design.md, "The
# 10M fetch and its floor").
HTTP_READ_SIZE = 262_144
# aiohttp's buffer: it stops reading the socket while it holds twice this, and each stop and
# restart costs system calls; a buffer of one piece made them 5% of the 10M fetch.
HTTP_BUFFER_SIZE = 2_097_152


class HttpNumbers:
    """A real backend: GET `url`, a JSON array of numbers summed as its bytes arrive.

    The HTTP session (and its connection pool) lives as long as the server serves.
    """

    def __init__(self, url: str, token: str | None, max_bytes: int) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.description = f"backend at {masked_url(url)}"
        self._headers = {"Accept-Encoding": ACCEPT_ENCODING}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    async def serving(self) -> AsyncGenerator[None, None]:
        # No timeout of aiohttp's own: the fetch's deadline covers it all, retries included.
        # No decoding of aiohttp's own either: it decodes a whole network read in one step.
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None),
            headers=self._headers,
            auto_decompress=False,
            read_bufsize=HTTP_BUFFER_SIZE,
        ) as session:
            self._session = session
            yield
            self._session = None

    @asynccontextmanager
    async def request(self, known: Validator | None, pacer: Pacer) -> AsyncIterator[Reply]:
        if self._session is None:
            raise RuntimeError("HttpNumbers asked before it serves")
        try:
            response = await self._session.get(self.url, headers=known.conditions() if known else None)
        except aiohttp.ClientError as error:
            raise BackendConnectionError(
                "the numbers backend could not be reached", cause=str(error), retryable=True
            ) from None
        # The answer is released when the block ends, so its connection goes back to the pool.
        async with response:
            if response.status == 304 and known is not None:
                yield Reply(known, None)
            elif 200 <= response.status < 300:
                yield Reply(Validator.of(response.headers), self._numbers(response, pacer))
            else:
                raise BackendStatusError(response.status)

    async def _numbers(self, response: aiohttp.ClientResponse, pacer: Pacer) -> AsyncGenerator[Chunk, None]:
        parser = NumberArrayParser()
        decoder = decoder_for(response.headers.get("Content-Encoding", ""), HTTP_READ_SIZE)
        if decoder is IDENTITY and (response.content_length or 0) > self.max_bytes:
            raise self._too_large()
        received = 0
        try:
            async for data in response.content.iter_chunked(HTTP_READ_SIZE):
                for piece in decoder.decode(data):
                    received += len(piece)
                    if received > self.max_bytes:
                        raise self._too_large()
                    for chunk in parser.feed(piece):
                        yield chunk
                    # Pieces that hold no complete number (a run of spaces) give way too.
                    await pacer.pause_if_due()
        except aiohttp.ClientError as error:
            raise BackendConnectionError(
                "the connection to the numbers backend broke mid-body", cause=str(error)
            ) from None
        decoder.finish()
        parser.close()

    def _too_large(self) -> BackendDataError:
        return BackendDataError(
            f"the numbers backend's body is larger than NUMBERS_API_MAX_BYTES ({self.max_bytes} bytes)"
        )


def numbers_source(config: Config) -> NumbersSource:
    """The backend the configuration asks for: a real one at NUMBERS_API_URL, or the simulated one."""
    if config.numbers_api_url:
        return HttpNumbers(config.numbers_api_url, config.numbers_api_token, config.numbers_api_max_bytes)
    return SimulatedNumbers(config.numbers_api_count, config.numbers_api_delay)
