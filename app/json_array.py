"""A streaming parser of a JSON array of numbers: feed it the body piece by piece.

Each piece yields the complete items it finishes as chunks for `ExactSum`, so memory
holds at most one piece and one unfinished item, never the whole body. Complete items
go, in order of preference, to:

1. simdjson straight into an int64 array: validated JSON at about 0.7 GB/s, with no Python
   object per number (the usual case: integers that fit in int64);
2. simdjson into Python numbers: floats, and integers up to 2**64;
3. an exact pure-Python parser: integers of any size, and the precise error message
   (the index of the first bad item) when the data is not what the contract says.
"""

from __future__ import annotations

import enum
import math
import re
from typing import cast

import numpy as np
import simdjson

from app.backend_errors import BackendDataError
from app.exact_sum import Chunk

WHITESPACE = b" \t\n\r"
# An unfinished item longer than this is not a number anyone means to send.
MAX_ITEM_BYTES = 65_536
_NUMBER = re.compile(rb"[ \t\n\r]*(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)[ \t\n\r]*")
_LITERALS = {b"true": "true", b"false": "false", b"null": "null"}
_OPENERS = {b'"': "a string", b"{": "an object", b"[": "an array"}


# What simdjson raises for a document it cannot give us as asked: invalid JSON (ValueError,
# UnicodeDecodeError), another type (TypeError), an integer beyond 64 bits (RuntimeError).
_SIMDJSON_ERRORS = (ValueError, TypeError, RuntimeError)


class _State(enum.Enum):
    BEFORE_ARRAY = enum.auto()
    FIRST_ITEM = enum.auto()  # after "[": an item or "]"
    ITEMS = enum.auto()
    AFTER_ARRAY = enum.auto()


class NumberArrayParser:
    """Parses one JSON array of numbers fed in arbitrary pieces."""

    def __init__(self) -> None:
        self._state = _State.BEFORE_ARRAY
        self._unparsed = b""  # the unfinished item carried over to the next piece
        self._index = 0  # the index of the next item
        self._simdjson = simdjson.Parser()

    def feed(self, piece: bytes) -> list[Chunk]:
        """The chunks of numbers that `piece` completes."""
        data = self._unparsed + piece if self._unparsed else piece
        self._unparsed = b""
        position = 0
        if self._state is _State.BEFORE_ARRAY:
            position = _skip_whitespace(data, position)
            if position == len(data):
                return []
            if data[position : position + 1] != b"[":
                raise BackendDataError("the body is not a JSON array")
            self._state = _State.FIRST_ITEM
            position += 1
        if self._state is _State.FIRST_ITEM:
            position = _skip_whitespace(data, position)
            if position == len(data):
                return []
            if data[position : position + 1] == b"]":
                self._state = _State.AFTER_ARRAY
                position += 1
            else:
                self._state = _State.ITEMS
        chunks = []
        if self._state is _State.ITEMS:
            end = data.find(b"]", position)
            if end != -1:
                # "]" cannot be part of a number: everything before it is the last items.
                chunks.append(self._items(data[position:end]))
                self._state = _State.AFTER_ARRAY
                position = end + 1
            else:
                last_comma = data.rfind(b",", position)
                if last_comma != -1:
                    chunks.append(self._items(data[position:last_comma]))
                    position = last_comma + 1
                self._unparsed = data[position:]
                if len(self._unparsed) > MAX_ITEM_BYTES:
                    raise BackendDataError(f"item {self._index} is longer than {MAX_ITEM_BYTES} bytes")
                return chunks
        if data[position:].strip(WHITESPACE):
            raise BackendDataError("the body goes on after the end of the JSON array")
        return chunks

    def close(self) -> None:
        """Check that the body ended with the array complete."""
        if self._state is not _State.AFTER_ARRAY:
            raise BackendDataError("the body ends before the JSON array does")

    def _items(self, text: bytes) -> Chunk:
        """The numbers of `text`, one or more complete comma-separated items."""
        first = self._index
        chunk = self._as_int64(text)
        if chunk is None:
            chunk = self._as_python_numbers(text)
        if chunk is None:
            chunk = _parse_exactly(text, first)
        if len(chunk) == 0:  # only whitespace where an item belongs, as in "[1, ]"
            raise BackendDataError(f"item {first} is missing: malformed JSON")
        self._index = first + len(chunk)
        return chunk

    def _as_int64(self, text: bytes) -> Chunk | None:
        try:
            # Copied out at once: simdjson's buffer lives only as long as its document.
            return np.frombuffer(self._parse(text).as_buffer(of_type="i"), np.int64).copy()
        except _SIMDJSON_ERRORS:  # not JSON, or not all int64: the next parser says which
            return None

    def _as_python_numbers(self, text: bytes) -> Chunk | None:
        try:
            values = self._parse(text).as_list()
        except _SIMDJSON_ERRORS:
            return None
        # bool is a subclass of int, so compare types exactly.
        if all(type(value) is int or type(value) is float for value in values):
            return cast(list[int | float], values)
        return None

    def _parse(self, text: bytes) -> simdjson.Array:
        # Items in brackets: a document that parses at all is an array.
        return cast(simdjson.Array, self._simdjson.parse(b"[" + text + b"]"))


def _skip_whitespace(data: bytes, position: int) -> int:
    while position < len(data) and data[position] in WHITESPACE:
        position += 1
    return position


def _parse_exactly(text: bytes, first_index: int) -> list[int | float]:
    """Every item of `text` as an exact Python number, or BackendDataError naming the first bad one."""
    numbers: list[int | float] = []
    for index, item in enumerate(text.split(b","), start=first_index):
        match = _NUMBER.fullmatch(item)
        if match is None:
            raise BackendDataError(_describe_bad_item(item, index))
        number, fraction, exponent = match.groups()
        if fraction is None and exponent is None:
            try:
                numbers.append(int(number))
            except ValueError:  # beyond Python's limit on digits in an int
                raise BackendDataError(f"item {index} is an integer with too many digits") from None
        else:
            value = float(number)
            if not math.isfinite(value):
                raise BackendDataError(f"item {index} is beyond the range of a float")
            numbers.append(value)
    return numbers


def _describe_bad_item(item: bytes, index: int) -> str:
    stripped = item.strip(WHITESPACE)
    if not stripped:
        return f"item {index} is missing: malformed JSON"
    kind = _LITERALS.get(stripped) or _OPENERS.get(stripped[:1])
    if kind is not None:
        return f"item {index} is {kind}, not a number"
    return f"item {index} is not a valid JSON number: {stripped[:40].decode('ascii', 'replace')!r}"
