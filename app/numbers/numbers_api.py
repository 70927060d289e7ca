"""The backend client: where the numbers come from, chosen in one place from the config."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import numpy as np

from app.config import Config, masked_url
from app.numbers import fetch_metrics, pacing
from app.numbers.content_coding import ACCEPT_ENCODING, IDENTITY, decoder_for
from app.numbers.errors import BackendConnectionError, BackendDataError, BackendError, BackendStatusError
from app.numbers.exact_sum import Chunk
from app.numbers.json_array import NumberArrayParser

log = logging.getLogger(__name__)

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


class NotModified(Exception):  # noqa: N818  (not a failure: the answer to a conditional fetch)
    """The backend answered 304: its list is still the version the caller named."""


class NumbersSource(Protocol):
    """A backend of numbers; `open` and `close` bracket the time the server is serving."""

    description: str
    # Requests to the backend made again during the latest fetch.
    retried: int
    # The version of the list the latest fetch delivered, if the backend named one.
    validator: Validator | None

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        """Fetch the numbers once, delivering them chunk by chunk; NotModified, with no chunk,
        if the backend's list is still the `known` version."""
        ...


class SimulatedNumbers:
    """The embedded backend: after `delay` seconds it delivers the numbers 0..count-1."""

    def __init__(self, count: int, delay: float, chunk_size: int = SIMULATED_CHUNK_SIZE) -> None:
        self.count = count
        self.delay = delay
        self.chunk_size = chunk_size
        self.description = f"simulated backend ({count} numbers after {delay} s)"
        self.retried = 0
        self.validator: Validator | None = None
        # The narrowest type that holds every number: int32 halves the memory traffic.
        self.dtype = np.int32 if count <= 2**31 else np.int64

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        await asyncio.sleep(self.delay)
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
# Answers worth asking again: the backend or a proxy in front of it is briefly unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})
# Exponential backoff with full jitter: before retry n, a random pause of up to
# BACKOFF_BASE * 2**(n-1) seconds, never more than BACKOFF_MAX.
BACKOFF_BASE = 0.1
BACKOFF_MAX = 2.0


class HttpNumbers:
    """A real backend: GET `url`, a JSON array of numbers summed as its bytes arrive.

    The HTTP session (and its connection pool) lives from `open` to `close`, as long as
    the server serves. The deadline for a whole fetch is the caller's (see `Totals`).
    """

    def __init__(self, url: str, retries: int, token: str | None, max_bytes: int) -> None:
        self.url = url
        self.retries = retries
        self.max_bytes = max_bytes
        self.description = f"backend at {masked_url(url)}"
        self.retried = 0
        self.validator: Validator | None = None
        self._headers = {"Accept-Encoding": ACCEPT_ENCODING}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # No timeout of aiohttp's own: the deadline covers the whole fetch, retries included.
        # No decoding of aiohttp's own either: it decodes a whole network read in one step.
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None),
            headers=self._headers,
            auto_decompress=False,
            read_bufsize=HTTP_BUFFER_SIZE,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def chunks(self, known: Validator | None = None) -> AsyncGenerator[Chunk, None]:
        parser = NumberArrayParser()
        self.validator = None
        async with self._answer(known) as response:
            if response.status == 304:
                raise NotModified
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
                        await pacing.pause_if_due()
            except aiohttp.ClientError as error:
                raise BackendConnectionError(
                    "the connection to the numbers backend broke mid-body", cause=str(error)
                ) from None
            decoder.finish()
        parser.close()
        self.validator = Validator.of(response.headers)

    def _too_large(self) -> BackendDataError:
        return BackendDataError(
            f"the numbers backend's body is larger than NUMBERS_API_MAX_BYTES ({self.max_bytes} bytes)"
        )

    @asynccontextmanager
    async def _answer(self, known: Validator | None) -> AsyncIterator[aiohttp.ClientResponse]:
        """The backend's 2xx answer (or 304 to a `known` version), asking again after connection
        failures and 502/503/504.

        Every answer is released when its block ends, so its connection goes back to the pool.
        """
        if self._session is None:
            raise RuntimeError("HttpNumbers used before open()")
        self.retried = 0
        while True:
            failure: BackendError
            try:
                response = await self._session.get(self.url, headers=known.conditions() if known else None)
            except aiohttp.ClientError as error:
                failure = BackendConnectionError("the numbers backend could not be reached", cause=str(error))
            else:
                async with response:
                    if 200 <= response.status < 300 or (response.status == 304 and known is not None):
                        yield response
                        return
                    failure = BackendStatusError(response.status)
                if response.status not in RETRY_STATUSES:
                    raise failure
            if self.retried == self.retries:
                raise failure
            self.retried += 1
            fetch_metrics.RETRIES.inc()
            log.warning(
                "retrying the numbers backend (%d of %d) after: %s",
                self.retried,
                self.retries,
                failure.for_log(),
            )
            backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (self.retried - 1))
            # Jitter, not a secret: bandit's B311 (use a CSPRNG) does not apply.
            await asyncio.sleep(random.uniform(0, backoff))  # nosec B311


def numbers_source(config: Config) -> NumbersSource:
    """The backend the configuration asks for: a real one at NUMBERS_API_URL, or the simulated one."""
    if config.numbers_api_url:
        return HttpNumbers(
            config.numbers_api_url,
            config.numbers_api_retries,
            config.numbers_api_token,
            config.numbers_api_max_bytes,
        )
    return SimulatedNumbers(config.numbers_api_count, config.numbers_api_delay)
