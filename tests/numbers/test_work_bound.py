"""The work spent on an item is bounded by its length in bytes, never by the value of its exponent."""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import MIN_EXPONENT, Number, PartialSum
from app.numbers.json_array import MAX_ITEM_BYTES
from tests.numbers.summing import total_of

# Each hazard body is as slow as this many plain bodies of its size at most. Measured: up to
# 50 (zeros with nine-digit exponents, each read by the exact parser); a value-bound item
# (`0e1000000`: 0.18 s for 11 bytes) is a million times over.
SLOWER_THAN_PLAIN_AT_MOST = 250
BODY_BYTES = 262_144


def total_in_pieces(body: bytes, piece: int = 65_536) -> Number:
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


def seconds(body: bytes) -> float:
    started = time.perf_counter()
    with contextlib.suppress(BackendDataError, ArithmeticError):
        total_in_pieces(body)
    return time.perf_counter() - started


@settings(max_examples=25, deadline=None)
@given(st.lists(HAZARDS, min_size=1, max_size=20))
# Found by this test: 19 digits (the exact parser's) and a zero (the bulk path's) in turn made
# every bulk run one item long, 900 times a plain body's cost (app.numbers.json_array.MIN_BULK_RUN).
@example(["1000000000000000000e-19", "0e9"])
def test_hazard_body_cost_is_bounded(items: list[str]) -> None:
    """A body of hazards costs a bounded multiple of a plain one of its size.

    Parsing and summing a body of hazards, repeated to BODY_BYTES, against integers of the same size.

    A ratio measured in one run, fastest of three each: bounded whatever the machine.
    """
    text = ",".join(items).encode()
    body = b"[" + b",".join([text] * max(1, BODY_BYTES // len(text))) + b"]"
    plain = b"[" + b",".join([b"1234567"] * (len(body) // 8)) + b"]"
    hazard_seconds = min(seconds(body) for _ in range(3))
    plain_seconds = min(seconds(plain) for _ in range(3))
    assert hazard_seconds <= SLOWER_THAN_PLAIN_AT_MOST * plain_seconds
