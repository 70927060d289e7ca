"""The work spent on an item is bounded by its length in bytes, never by the value of its exponent."""

from __future__ import annotations

import contextlib
import tracemalloc
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import MIN_EXPONENT, ExactSum, Number, PartialSum
from app.numbers.json_array import BULK_BYTES, MAX_ITEM_BYTES, MIN_BULK_RUN, NumberArrayParser
from tests.numbers.summing import total_of

BODY_BYTES = 262_144
PIECE_BYTES = 65_536
# The memory a body of hazards takes at its peak, in pieces: up to 21 over the shapes below,
# the same for 256 KiB and 4 MiB bodies, taken by the piece's item arrays and exact ints.
PEAK_PIECES = 32


def total_in_pieces(body: bytes, piece: int = PIECE_BYTES) -> Number:
    return total_of(body[start : start + piece] for start in range(0, len(body), piece))


def reference(items: list[str]) -> float:
    return float(sum((Fraction(Decimal(item)) for item in items), Fraction(0)))


@pytest.mark.parametrize(
    "item",
    [
        "0e999999999",
        "-0.0e999999999",
        "0E+99999999999999999999",
        "0e-99999999999",
        "0.000e99999",
        "-0e-99999",
    ],
)
def test_zero_with_any_exponent(item: str) -> None:
    total = total_in_pieces(f"[{item}, {item}]".encode())
    assert (total, str(total)) == (0.0, "0.0")


def test_zero_exponent_never_computed() -> None:
    """A zero's exponent would be a billion-digit power if it were computed."""
    chunk = PartialSum()
    chunk.add_decimal(0, 10**18)
    chunk.add_decimal(0, -(10**18))
    assert (chunk.integers, chunk.by_exponent, chunk.count, chunk.is_float) == (0, {}, 2, True)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("1" + "0" * 1000 + "e-1000", 1.0),
        ("1" + "0" * 60_000 + "e-60002", 0.01),
        ("25" + "0" * 300 + ".000e-301", 2.5),
    ],
)
def test_trailing_zeros_of_a_mantissa(item: str, expected: float) -> None:
    assert total_in_pieces(f"[{item}]".encode()) == expected


def test_trailing_zeros_beyond_the_range() -> None:
    with pytest.raises(BackendDataError, match="item 0 has a digit finer than 10\\*\\*-1100"):
        total_in_pieces(b"[1" + b"0" * 65_000 + b"e-70000]")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("1e0000000000000000000005", 1e5),
        ("1e-000000000000000000000000000000000000001", 0.1),
        ("7E+" + "0" * 60_000 + "2", 700.0),
    ],
)
def test_exponent_written_with_many_digits(item: str, expected: float) -> None:
    assert total_in_pieces(f"[{item}]".encode()) == expected


@pytest.mark.parametrize("item", ["1E+99999999999999999999", "1e-" + "9" * 60_000, "-3e" + "1" * 20])
def test_huge_exponent_is_bad_data(item: str) -> None:
    with pytest.raises(BackendDataError, match="item 0 "):
        total_in_pieces(f"[{item}]".encode())


def test_every_accepted_exponent_in_one_body() -> None:
    items = [f"{digit}e{exponent}" for exponent in range(MIN_EXPONENT, 308) for digit in (0, 3)]
    assert total_in_pieces(f"[{','.join(items)}]".encode()) == reference(items)


def zero_exponent(sign: str, digits: int) -> str:
    return f"{sign}0e{'9' * digits}"


def trailing_zeros(zeros: int) -> str:
    return f"1{'0' * zeros}e-{zeros + 1}"


def leading_zeros(zeros: int) -> str:
    return f"1e-{'0' * zeros}3"


def huge_exponent(digits: int) -> str:
    return f"1E+{'9' * digits}"


WIDTH = st.integers(min_value=1, max_value=MAX_ITEM_BYTES - 8)
HAZARDS = st.one_of(
    st.builds(zero_exponent, st.sampled_from(["", "-"]), WIDTH),
    st.builds(trailing_zeros, WIDTH),
    st.builds(leading_zeros, WIDTH),
    st.builds(huge_exponent, WIDTH),
    st.builds(lambda exponent: f"0e{exponent}", st.integers(-(10**12), 10**12)),
    st.builds(lambda exponent: f"1e{exponent}", st.integers(MIN_EXPONENT, 308)),
)


def repeated(items: bytes, size: int) -> bytes:
    """A JSON array of `items` (comma-separated) over and over, to about `size` bytes."""
    return b"[" + b",".join([items] * max(1, size // len(items))) + b"]"


@dataclass(frozen=True)
class Work:
    """What adding up a body took: the chunks the parser handed the sum, and the peak memory."""

    chunks: int
    peak_bytes: int


def work(body: bytes) -> Work:
    """The work of adding up `body` fed in pieces, as far as it goes (a bad item ends it)."""
    parser, total, chunks = NumberArrayParser(), ExactSum(), 0
    tracemalloc.start()
    try:
        with contextlib.suppress(BackendDataError, ArithmeticError):
            for start in range(0, len(body), PIECE_BYTES):
                for chunk in parser.feed(body[start : start + PIECE_BYTES]):
                    total.add(chunk)
                    chunks += 1
            total.result()
        return Work(chunks, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


@settings(max_examples=25, deadline=None)
@given(st.lists(HAZARDS, min_size=1, max_size=20))
# Found when this property was timed: 19 digits (the exact parser's) and a zero (the bulk
# path's) in turn made every bulk run one item long, a chunk an item, 900 times a plain body's
# time (app.numbers.json_array.MIN_BULK_RUN).
@example(["1000000000000000000e-19", "0e9"])
def test_hazard_body_work_is_bounded(items: list[str]) -> None:
    """A body of hazards is added up in chunks of many items, in memory bounded by the piece.

    A chunk costs about 0.1 ms however few items it holds, so that chunks of one item would make
    a body hundreds of times slower; a power or a table as wide as an exponent's value would
    take memory in proportion to that value. Times are the benchmark's (`bench/hazards.py`).
    """
    body = repeated(",".join(items).encode(), BODY_BYTES)
    # A bulk run holds MIN_BULK_RUN items at least and may be followed by an exact run; a
    # slice of BULK_BYTES or a piece may cut either in two.
    runs_cut = len(body) // BULK_BYTES + len(body) // PIECE_BYTES + 1
    measured = work(body)
    assert measured.chunks <= 2 * (body.count(b",") + 1) // MIN_BULK_RUN + 2 * runs_cut
    assert measured.peak_bytes <= PEAK_PIECES * PIECE_BYTES


def test_memory_does_not_grow_with_the_body() -> None:
    """A body four times longer, twelve pieces more, takes at most four more at its peak.

    The parser holds a piece and an unfinished item, never the body: what grows is where the
    longest item falls across pieces. Measured: 105 KB more (1.6 pieces); the body held would be
    12 pieces more.
    """
    text = ",".join(["1000000000000000000e-19", "0e9", trailing_zeros(60_000)]).encode()
    short, long = repeated(text, BODY_BYTES), repeated(text, 4 * BODY_BYTES)
    assert work(long).peak_bytes <= work(short).peak_bytes + 4 * PIECE_BYTES
