"""A streaming parser of a JSON array of numbers: feed it the body piece by piece.

`feed` frames a piece at once (it finds the items the piece completes) and returns an
iterator that parses them chunk by chunk as it is iterated, so that the caller can hand the
event loop back between chunks. Memory holds one piece and one unfinished item, never the
whole body; whitespace between items is skipped, not kept. However the body is cut into
pieces, it gives the same total or the same error: an item is measured, and quoted in an
error, as its bytes are (without the whitespace around it, each run of whitespace within it
as one space), never as the pieces cut it. Complete items go, in order of preference, to:

1. simdjson straight into an int64 array: validated JSON at about 0.7 GB/s, with no Python
   object per number (the usual case: integers that fit in int64). A piece with a few
   integers too wide for int64 is halved around them, so that the rest stay arrays;
2. the bulk path, for numbers of at most 18 digits with a fraction or an exponent:
   simdjson validates them, numpy finds each item and reads its digits as an int64
   mantissa and its exponent, and the exact sum adds the mantissas per exponent;
3. the exact path for the rest: runs of wide integers become Python ints in one C loop;
   anything else goes one by one through a pure-Python parser, which also names the index
   of the first bad item when the data is not what the contract says. Only the items that
   need it take it: their neighbours stay on the faster paths.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterator
from typing import cast

import numpy as np
import numpy.typing as npt
import simdjson

from app.numbers import wide_integers
from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import (
    FLOAT_MAX_DIGITS,
    MIN_EXPONENT,
    Chunk,
    FloatRangeError,
    IntArray,
    PartialSum,
    check_decimal,
)

WHITESPACE = b" \t\n\r"
# An item longer than this (as `_measured` counts it) is not a number anyone means to send;
# it also bounds the unfinished item kept between pieces.
MAX_ITEM_BYTES = 65_536
# Items of at most this many digits have mantissas below 10**18 < 2**63: they fit int64
# (np.fromstring would silently clamp a wider one to int64's maximum).
BULK_MAX_DIGITS = 18
# Integers average more bytes than this only where most of them are too wide for int64.
_INT64_DIGITS = 19
# Zeros right after "0." that the bulk path knows add no digit to a mantissa.
LEADING_ZEROS = 8
# Items that are not all int64 are parsed in parts of about this many bytes, each well
# under a millisecond on the bulk path.
BULK_BYTES = 16_384
# Fewer items than this in a row go to the exact parser even if the bulk path could take
# them: a bulk run costs about 0.1 ms however short, an item on the exact path 2-3 us. Items
# that alternate between the two paths made each run one item long, 900 times the cost of
# plain integers of the same size (tests/numbers/test_work_bound.py).
MIN_BULK_RUN = 64
# Integers that are not all int64 are halved down to about this many bytes to find the
# items that are not, so that the rest stay compact arrays.
BISECT_BYTES = 2_048
# Items the exact parser takes between two chunks: 1-2 ms of pure Python, so that
# a body of slow items still lets the event loop in every millisecond or so.
EXACT_BATCH = 256
_EXPONENT = re.compile(rb"[eE]([+-]?[0-9]+)")
# The bulk path reads exponents of up to 5 digits (and a sign): beyond that, the exact parser.
_BULK_EXPONENT_DIGITS = 6
_INTEGER = rb"[ \t\n\r]*-?(?:0|[1-9][0-9]*)[ \t\n\r]*"
_INTEGERS = re.compile(_INTEGER + rb"(?:," + _INTEGER + rb")*")
_NUMBER = re.compile(rb"[ \t\n\r]*(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?[ \t\n\r]*")
_NOT_WHITESPACE = re.compile(rb"[^ \t\n\r]")
_LITERALS = {b"true": "true", b"false": "false", b"null": "null"}
_OPENERS = {b'"': "a string", b"{": "an object", b"[": "an array"}
_COMMA, _DOT, _ZERO, _LOWER_E, _SPACE = b",.0e "
_TRAILING_DATA = "the body goes on after the end of the JSON array"

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

    def feed(self, piece: bytes) -> Iterator[Chunk]:
        """The chunks of numbers that `piece` completes, parsed as the iterator is advanced.

        What is wrong after the piece's complete items (data after the array, an unfinished
        item already too long) is raised once they are parsed: a bad item before it is named
        first, as it is however the body is cut.
        """
        kept = self._unparsed
        data = kept + piece if kept else piece
        self._unparsed = b""
        position = 0
        if self._state is _State.BEFORE_ARRAY:
            position = _skip_whitespace(data, position)
            if position == len(data):
                return iter(())
            if data[position : position + 1] != b"[":
                raise BackendDataError("the body is not a JSON array")
            self._state = _State.FIRST_ITEM
            position += 1
        if self._state is _State.FIRST_ITEM:
            position = _skip_whitespace(data, position)
            if position == len(data):
                return iter(())
            if data[position : position + 1] == b"]":
                self._state = _State.AFTER_ARRAY
                position += 1
            else:
                self._state = _State.ITEMS
        chunks: Iterator[Chunk] = iter(())
        error: BackendDataError | None = None
        if self._state is _State.ITEMS:
            end = data.find(b"]", position)
            if end != -1:
                # "]" cannot be part of a number: everything before it is the last items.
                chunks = self._complete(data, position, end)
                self._state = _State.AFTER_ARRAY
                position = end + 1
            else:
                last_comma = data.rfind(b",", position)
                if last_comma != -1:
                    chunks = self._complete(data, position, last_comma)
                    position, kept = last_comma + 1, b""
                # The unfinished item is what was kept of it (`data` starts with that), then the
                # rest of `data`. Kept once the complete items are counted: self._index is its own.
                error = self._keep_unfinished(kept, data[position + len(kept) :])
        if self._state is _State.AFTER_ARRAY and data[position:].strip(WHITESPACE):
            error = BackendDataError(_TRAILING_DATA)
        return chunks if error is None else _raising_after(chunks, error)

    def close(self) -> None:
        """Check that the body ended with the array complete."""
        if self._state is not _State.AFTER_ARRAY:
            raise BackendDataError("the body ends before the JSON array does")

    def _complete(self, data: bytes, start: int, stop: int) -> Iterator[Chunk]:
        """The numbers of the complete items in `data[start:stop]`, counted at once, parsed lazily."""
        mixed = _has_fraction_or_exponent(data, start, stop)
        if not mixed:
            # The usual case, parsed at once: simdjson counts the items as it goes. A view, not
            # a slice: the items are copied once, into simdjson's document.
            values = self._as_int64(memoryview(data)[start:stop])
            if values is not None:
                self._index += len(values)
                return iter((values,))
        first, count = self._index, data.count(b",", start, stop) + 1
        self._index += count
        if mixed:
            return self._mixed(data[start:stop], first)
        return self._bisect(data[start:stop], first, count)  # integers, not all int64

    def _keep_unfinished(self, kept: bytes, fresh: bytes) -> BackendDataError | None:
        """Keep the item that the piece leaves unfinished, `kept` from earlier pieces and `fresh`
        from this one, for the next piece; the error if it is already too long.

        It is kept as `_measured` reads it, so that memory holds no run of whitespace and the
        item reads the same however the body is cut; one space after it keeps "1 2" malformed.
        """
        if not kept:
            fresh = fresh.lstrip(WHITESPACE)
        # `kept` is collapsed already: only its last byte can join a run that `fresh` begins.
        item = kept[:-1] + _collapsed(kept[-1:] + fresh)
        if len(item) - item.endswith(b" ") > MAX_ITEM_BYTES:
            return BackendDataError(_too_long(self._index))
        self._unparsed = item
        return None

    def _integers(self, text: bytes, first: int, count: int) -> Iterator[Chunk]:
        """Items written as integers: int64 arrays where they fit, Python ints where they do not."""
        whole = self._as_int64(text)
        if whole is not None:
            yield whole
        else:
            yield from self._bisect(text, first, count)

    def _bisect(self, text: bytes, first: int, count: int) -> Iterator[Chunk]:
        """`text`, not all int64: halved around the items that are not, so that the rest stay arrays.

        Where the items average more bytes than an int64 has digits, most of them are wide:
        they all go to Python ints, which is cheaper than halving.
        """
        middle = text.find(b",", len(text) // 2)
        if len(text) <= BISECT_BYTES or middle == -1 or len(text) > _INT64_DIGITS * count:
            yield from _parse_exactly(text, first)
            return
        left = text.count(b",", 0, middle) + 1
        for half, half_first, half_count in (
            (text[:middle], first, left),
            (text[middle + 1 :], first + left, count - left),
        ):
            yield from self._integers(half, half_first, half_count)

    def _mixed(self, text: bytes, first: int) -> Iterator[Chunk]:
        """The numbers of `text`, each by the fastest path that takes it."""
        for part, part_first in _slices(text, first):
            items = _Items(part)
            for start, stop in items.runs():
                run = part[items.starts[start] : items.ends[stop - 1]]
                chunk = self._bulk(run, items, start, stop) if items.bulk[start] else None
                if chunk is not None:
                    yield chunk
                else:
                    yield from _parse_exactly(run, part_first + start)

    def _bulk(self, run: bytes, items: _Items, start: int, stop: int) -> Chunk | None:
        """The numbers of `run`, items `start` to `stop` of `items`, all of at most 18 digits.

        None if one of them is not a valid JSON number or is beyond the range that the bulk
        path takes: the exact parser then says which, or takes it.
        """
        count = stop - start
        if not _has_fraction_or_exponent(run):
            return self._as_int64(run)
        try:
            self._parse(run).as_buffer(of_type="d")  # validates: numbers, and nothing else
        except _SIMDJSON_ERRORS:
            return None
        exponents = -items.scales[start:stop]
        has_exponent = items.has_exponent[start:stop]
        if has_exponent.any():
            written = _EXPONENT.findall(run)
            if len(written) != has_exponent.sum() or max(map(len, written)) > _BULK_EXPONENT_DIGITS:
                return None
            exponents[has_exponent] += np.fromstring(b",".join(written), dtype=np.int64, sep=",")
            run = _EXPONENT.sub(b"", run)
        # Valid JSON numbers without their dots are integers: 12.50 reads as 1250, at 10**-2.
        mantissas = np.fromstring(run.replace(b".", b""), dtype=np.int64, sep=",")
        if len(mantissas) != count:  # an empty item: simdjson reads "[ ]" as no item
            return None
        digits = items.digits[start:stop]
        is_zero = mantissas == 0
        outside = (exponents < MIN_EXPONENT) | (digits + exponents >= FLOAT_MAX_DIGITS)
        if (outside & ~is_zero).any():
            return None
        # A zero's exponent adds nothing: left as written, it would widen the sum's table of
        # exponents to the width of the exponents' range, not of the items.
        exponents[is_zero] = 0
        chunk = PartialSum()
        chunk.add_bulk(mantissas, exponents)
        return chunk

    def _as_int64(self, text: bytes | memoryview) -> IntArray | None:
        """The items of `text` as int64s; None if any is not one, or `text` has no item."""
        try:
            # as_buffer's copy owns its memory: the array outlives the document and the parser's reuse.
            values = np.frombuffer(self._parse(text).as_buffer(of_type="i"), np.int64)
        except _SIMDJSON_ERRORS:  # not JSON, or not all int64: the next path says which
            return None
        # Valid items in brackets, and at least one: as many as the commas say. No item
        # is "[ ]" from whitespace alone, which the exact parser refuses with its index.
        return values if len(values) else None

    def _parse(self, text: bytes | memoryview) -> simdjson.Array:
        # Items in brackets, copied once: a document that parses at all is an array.
        return cast(simdjson.Array, self._simdjson.parse(b"".join((b"[", text, b"]"))))


def _has_fraction_or_exponent(text: bytes, start: int = 0, stop: int | None = None) -> bool:
    return any(text.find(mark, start, stop) != -1 for mark in (b".", b"e", b"E"))


class _Items:
    """Where each comma-separated item of a text is, and which ones the bulk path can take."""

    def __init__(self, text: bytes) -> None:
        data = np.frombuffer(text, np.uint8)
        is_comma = data == _COMMA
        commas = np.flatnonzero(is_comma)
        self.starts = np.concatenate(([0], commas + 1))
        self.ends = np.concatenate((commas, [len(data)]))
        # item_at[i]: the index of the item that text[i] belongs to; digits_before[i]: how
        # many digits text[:i] holds (uint8 arithmetic wraps what is below "0" to above 9).
        # Summed as uint8: numpy's cumsum of a bool array is twice as slow.
        item_at = np.cumsum(is_comma.view(np.uint8), dtype=np.int32)
        is_digit = (data - _ZERO) < 10
        digits_before = np.concatenate(([0], np.cumsum(is_digit.view(np.uint8), dtype=np.int32)))
        # Where each item's mantissa ends: at its "e" if it has one.
        exponent_marks = np.flatnonzero((data | 0x20) == _LOWER_E)
        mantissa_ends = self.ends.copy()
        mantissa_ends[item_at[exponent_marks]] = exponent_marks
        self.has_exponent = np.zeros(len(self.starts), np.bool_)
        self.has_exponent[item_at[exponent_marks]] = True
        self.digits = digits_before[mantissa_ends] - digits_before[self.starts]
        # In valid JSON a zero before "." that follows no digit is the integer part of "0.":
        # it, and the zeros right after the ".", add nothing to the mantissa. Up to
        # LEADING_ZEROS of those are counted out: Python and JavaScript write at most 3 and 5.
        zero_dots = np.flatnonzero((data[:-1] == _ZERO) & (data[1:] == _DOT))
        zero_dots = zero_dots[(zero_dots == 0) | ~is_digit[zero_dots - 1]]
        leading = np.ones(len(zero_dots), np.int32)
        still_zero = np.ones(len(zero_dots), np.bool_)
        for offset in range(2, LEADING_ZEROS + 2):
            still_zero &= data[np.minimum(zero_dots + offset, len(data) - 1)] == _ZERO
            leading += still_zero
        self.digits[item_at[zero_dots]] -= leading
        self.bulk = _long_runs(self.digits <= BULK_MAX_DIGITS)
        # How many digits each item has after its ".", before any exponent.
        dots = np.flatnonzero(data == _DOT)
        dotted = item_at[dots]
        self.scales = np.zeros(len(self.starts), np.int64)
        self.scales[dotted] = digits_before[mantissa_ends[dotted]] - digits_before[dots + 1]

    def runs(self) -> Iterator[tuple[int, int]]:
        """Consecutive items, as [start, stop) index pairs, that all take the same path."""
        changes = np.flatnonzero(self.bulk[1:] != self.bulk[:-1]) + 1
        return itertools.pairwise([0, *changes.tolist(), len(self.bulk)])


def _long_runs(bulk: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """`bulk` without its runs of True shorter than MIN_BULK_RUN."""
    bounds = np.concatenate(([0], np.flatnonzero(bulk[1:] != bulk[:-1]) + 1, [len(bulk)]))
    lengths = np.diff(bounds)
    short = bulk[bounds[:-1]] & (lengths < MIN_BULK_RUN)
    return bulk & ~np.repeat(short, lengths)


def _slices(text: bytes, first: int) -> Iterator[tuple[bytes, int]]:
    """`text` cut at commas into parts of about BULK_BYTES, each with the index of its first item."""
    start = 0
    while True:
        cut = text.find(b",", start + BULK_BYTES)
        if cut == -1:
            yield text[start:], first
            return
        yield text[start:cut], first
        first += text.count(b",", start, cut) + 1
        start = cut + 1


def _raising_after(chunks: Iterator[Chunk], error: BackendDataError) -> Iterator[Chunk]:
    yield from chunks
    raise error


def _skip_whitespace(data: bytes, position: int) -> int:
    match = _NOT_WHITESPACE.search(data, position)
    return match.start() if match else len(data)


def _parse_exactly(text: bytes, first_index: int) -> Iterator[PartialSum]:
    """Every item of `text` as an exact number, in batches; BackendDataError names the first bad one."""
    items = text.split(b",")
    # Wide integers only, none too long: Python ints, converted at C speed.
    if _INTEGERS.fullmatch(text) and (len(text) <= MAX_ITEM_BYTES or max(map(len, items)) <= MAX_ITEM_BYTES):
        values = sorted(wide_integers.from_texts(items), key=int.bit_length)
        # Narrowest first: adding to an int costs the width of the wider one, and the few
        # wide items come with many narrow ones (the pieces around them are 2 KiB and up).
        yield PartialSum(integers=sum(values), count=len(values))
        return
    batch = PartialSum()
    for index, item in enumerate(items, start=first_index):
        _add_exactly(item, index, batch)
        if batch.count == EXACT_BATCH:
            yield batch
            batch = PartialSum()
    if batch.count:
        yield batch


def _add_exactly(item: bytes, index: int, into: PartialSum) -> None:
    if len(item) > MAX_ITEM_BYTES and len(_measured(item)) > MAX_ITEM_BYTES:
        raise BackendDataError(_too_long(index))
    match = _NUMBER.fullmatch(item)
    if match is None:
        raise BackendDataError(_describe_bad_item(item, index))
    sign, whole, fraction, exponent = match.groups()
    if fraction is None and exponent is None:
        into.add_integer(wide_integers.from_text(sign + whole))
        return
    digits = (whole + (fraction or b"")).lstrip(b"0")
    significant = digits.rstrip(b"0")
    power = wide_integers.from_text(exponent or b"0") - len(fraction or b"") + len(digits) - len(significant)
    mantissa = wide_integers.from_text(sign + significant) if significant else 0
    try:
        check_decimal(mantissa, len(significant), power)
    except FloatRangeError as error:
        raise BackendDataError(f"item {index} {error}") from None
    into.add_decimal(mantissa, power)


def _describe_bad_item(item: bytes, index: int) -> str:
    stripped = _measured(item)
    if not stripped:
        return f"item {index} is missing: malformed JSON"
    kind = _LITERALS.get(stripped) or _OPENERS.get(stripped[:1])
    if kind is not None:
        return f"item {index} is {kind}, not a number"
    return f"item {index} is not a valid JSON number: {stripped[:40].decode('ascii', 'replace')!r}"


def _too_long(index: int) -> str:
    return f"item {index} is longer than {MAX_ITEM_BYTES} bytes"


def _measured(item: bytes) -> bytes:
    """The item as its length is measured and as an error quotes it, however the body was cut."""
    return _collapsed(item.strip(WHITESPACE))


def _collapsed(text: bytes) -> bytes:
    """`text` with each run of whitespace as one space.

    In numpy: a regex's cost per byte grows with the number of runs it replaces.
    """
    # Nothing to collapse, found by searching bytes (memchr) before pairs (a slower search).
    if not any(space in text for space in b"\t\n\r") and (_SPACE not in text or b"  " not in text):
        return text
    data = np.frombuffer(text, np.uint8)
    is_space = data == _SPACE
    for space in b"\t\n\r":
        is_space |= data == space
    spaced = np.where(is_space, np.uint8(_SPACE), data)
    # A whitespace byte stays, as a space, only where the byte before it is not whitespace.
    keep = np.empty(len(data), np.bool_)
    keep[0] = True
    np.logical_not(is_space[1:] & is_space[:-1], out=keep[1:])
    return spaced[keep].tobytes()
