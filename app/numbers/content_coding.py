"""The backend's body as it was before its content coding: decoded in bounded steps.

The service asks for gzip and deflate only (ACCEPT_ENCODING), the codings the standard
library's zlib decodes with a bound on each step's output (`max_length`): a body that
expands a thousandfold is decoded piece by piece like any other, never in one long step.
A coding that was not asked for is refused by name, never passed on as if it were JSON.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

from app.numbers.errors import BackendDataError

ACCEPT_ENCODING = "gzip, deflate"
# zlib's window bits for each coding: gzip's header and trailer (RFC 1952), or zlib's
# (RFC 1950), which is what HTTP's "deflate" means (RFC 9110, 8.4.1.2).
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes that `data` completes, in pieces of at most the decoder's step."""
        ...

    def finish(self) -> None:
        """Check that the body ended where its coding does."""
        ...


class _Identity:
    """A body sent as it is."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> None:
        pass


IDENTITY = _Identity()


class Inflate:
    """A gzip or deflate body, decoded `step` bytes at most at a time."""

    def __init__(self, coding: str, step: int) -> None:
        self._coding = coding
        self._window_bits = _WINDOW_BITS[coding]
        self._step = step
        self._stream = zlib.decompressobj(self._window_bits)

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._stream.eof:
                # A gzip body may hold several members one after another (RFC 1952, 2.2).
                if self._window_bits == zlib.MAX_WBITS:
                    raise BackendDataError("the body goes on after the end of its deflate stream")
                self._stream = zlib.decompressobj(self._window_bits)
            try:
                piece = self._stream.decompress(data, self._step)
            except zlib.error:
                raise BackendDataError(f"the body is not valid {self._coding} data") from None
            data = self._stream.unused_data if self._stream.eof else self._stream.unconsumed_tail
            # Output a full step left inside zlib comes out with the next data: the stream's
            # trailer always follows it, so none is left when the body ends.
            if piece:
                yield piece

    def finish(self) -> None:
        if not self._stream.eof:
            raise BackendDataError(f"the body ends before its {self._coding} stream does")


def decoder_for(content_encoding: str, step: int) -> Decoder:
    """The decoder of a body sent with this Content-Encoding; BackendDataError for one not asked for."""
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return IDENTITY
    if coding in _WINDOW_BITS:
        return Inflate(coding, step)
    raise BackendDataError(
        f"the numbers backend sent its body with Content-Encoding {content_encoding[:40]!r}, which the "
        f"service did not ask for (it asks for {ACCEPT_ENCODING}) and cannot decode"
    )
