"""Decoding the backend's body in bounded steps, and only the codings the service asks for."""

from __future__ import annotations

import gzip
import re
import zlib

import pytest

from app.numbers.content_coding import ACCEPT_ENCODING, IDENTITY, decoder_for
from app.numbers.errors import BackendDataError

STEP = 1024


def decoded(coding: str, body: bytes, piece: int = 100) -> list[bytes]:
    decoder = decoder_for(coding, STEP)
    pieces = [
        out for start in range(0, len(body), piece) for out in decoder.decode(body[start : start + piece])
    ]
    decoder.finish()
    return pieces


def deflated(data: bytes) -> bytes:
    return zlib.compress(data)


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "x-gzip", " gzip "])
def test_gzip(coding: str) -> None:
    body = b"[" + b",".join(b"%d" % n for n in range(5000)) + b"]"
    assert b"".join(decoded(coding, gzip.compress(body))) == body


def test_deflate_is_zlib_format() -> None:
    body = b"[1, 2, 3]" * 1000
    assert b"".join(decoded("deflate", deflated(body))) == body


def test_every_step_is_bounded() -> None:
    """A thousandfold expansion comes out in pieces of at most the step, however it arrives."""
    body = b"[" + b" " * 10_000_000 + b"]"
    for piece in (10, 65_536, 10**9):
        pieces = decoded("gzip", gzip.compress(body), piece)
        assert max(map(len, pieces)) == STEP
        assert sum(map(len, pieces)) == len(body)


def test_gzip_members_follow_one_another() -> None:
    assert b"".join(decoded("gzip", gzip.compress(b"[1,") + gzip.compress(b"2]"))) == b"[1,2]"


def test_identity_passes_the_body_on() -> None:
    assert decoder_for("", STEP) is decoder_for("identity", STEP) is IDENTITY
    assert decoded("identity", b"[1, 2]", piece=4) == [b"[1, ", b"2]"]


@pytest.mark.parametrize(
    ("coding", "body", "message"),
    [
        ("gzip", b"[1, 2]", "the body is not valid gzip data"),
        ("deflate", gzip.compress(b"[1]"), "the body is not valid deflate data"),
        ("gzip", gzip.compress(b"[1, 2]")[:-5], "the body ends before its gzip stream does"),
        ("deflate", deflated(b"[1]") + b"[2]", "the body goes on after the end of its deflate stream"),
    ],
)
def test_bad_compressed_body(coding: str, body: bytes, message: str) -> None:
    with pytest.raises(BackendDataError, match=f"^{re.escape(message)}$"):
        decoded(coding, body)


@pytest.mark.parametrize("coding", ["xyz", "br", "zstd", "compress", "gzip, gzip", "gzip, identity"])
def test_coding_not_asked_for(coding: str) -> None:
    with pytest.raises(
        BackendDataError, match=f"Content-Encoding {coding!r}, which the service did not ask for"
    ):
        decoder_for(coding, STEP)


def test_asks_only_for_what_it_decodes() -> None:
    for coding in ACCEPT_ENCODING.split(", "):
        decoder_for(coding, STEP)
