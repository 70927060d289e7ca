from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.numbers.exact_sum import (
    MIN_EXPONENT,
    Chunk,
    ExactSum,
    FloatRangeError,
    Number,
    PartialSum,
    check_decimal,
    integer_array_sum,
)

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def decimal(mantissa: int, exponent: int) -> PartialSum:
    chunk = PartialSum()
    chunk.add_decimal(mantissa, exponent)
    return chunk


def integers(*values: int) -> PartialSum:
    chunk = PartialSum()
    for value in values:
        chunk.add_integer(value)
    return chunk


def exact(*chunks: Chunk) -> Number:
    total = ExactSum()
    for chunk in chunks:
        total.add(chunk)
    return total.result()


@given(st.lists(INT64, max_size=200))
def test_integer_array_sum_never_overflows(values: list[int]) -> None:
    assert integer_array_sum(np.array(values, dtype=np.int64)) == sum(values)


@given(st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=200))
def test_int32_sum_never_overflows(values: list[int]) -> None:
    assert integer_array_sum(np.array(values, dtype=np.int32)) == sum(values)


def test_integer_array_sum_of_extremes() -> None:
    big = np.full(1000, 2**63 - 1, dtype=np.int64)
    assert integer_array_sum(big) == 1000 * (2**63 - 1)
    assert integer_array_sum(-big - 1) == -1000 * 2**63
    assert integer_array_sum(np.full(100_000, 2**31 - 1, dtype=np.int32)) == 100_000 * (2**31 - 1)


def test_integers_beyond_int64_are_exact() -> None:
    assert exact(integers(9223372036854775807, 1)) == 9223372036854775808
    assert exact(integers(10**40, -(10**39)), integers(-5)) == 9 * 10**39 - 5


def test_an_empty_list_sums_to_integer_zero() -> None:
    result = exact(np.array([], dtype=np.int64))
    assert result == 0
    assert isinstance(result, int)


def test_decimals_rounded_once() -> None:
    """Decimals are summed exactly and rounded once."""
    assert exact(decimal(1, -1), decimal(2, -1)) == 0.3
    assert exact(decimal(3, -1), decimal(-1, -1), decimal(-2, -1)) == 0.0
    assert exact(decimal(1, 23), integers(-(10**23))) == 0.0
    # 10**30 + 1 + 0.5 is rounded once, not via float(10**30 + 1) first.
    assert exact(integers(10**30 + 1), decimal(5, -1)) == float(Fraction(10**30 + 1) + Fraction(1, 2))


def test_one_decimal_makes_a_float() -> None:
    """One decimal makes the result a float."""
    result = exact(integers(1, 2), decimal(0, 0))
    assert result == 3.0
    assert isinstance(result, float)


def test_an_exact_zero_is_positive() -> None:
    result = exact(decimal(0, -1), decimal(5, -1), decimal(-5, -1))
    assert math.copysign(1.0, result) == 1.0


def test_beyond_float_range_is_error() -> None:
    """A sum beyond the float range is an error."""
    with pytest.raises(FloatRangeError):
        exact(decimal(17, 307), decimal(17, 307))
    with pytest.raises(FloatRangeError):
        exact(integers(10**400), decimal(5, -1))


def test_the_count_covers_every_chunk() -> None:
    total = ExactSum()
    total.add(np.arange(5, dtype=np.int64))
    total.add(decimal(15, -1))
    total.add(integers(2, 3))
    assert total.count == 8


def test_chunk_count_covers_every_add() -> None:
    """One chunk's count covers every way its numbers were added."""
    chunk = integers(1)
    chunk.add_array(np.arange(3, dtype=np.int32))
    chunk.add_bulk(np.array([15, 25], dtype=np.int64), np.array([-1, -1], dtype=np.int64))
    chunk.add_array(np.arange(2, dtype=np.int64))
    chunk.add_bulk(np.array([5], dtype=np.int64), np.array([-1], dtype=np.int64))
    chunk.add_decimal(5, -1)
    assert (chunk.count, exact(chunk)) == (10, 1 + 3 + 4.0 + 1 + 0.5 + 0.5)


@pytest.mark.parametrize(
    ("mantissa", "exponent", "accepted"),
    [
        (0, 10**9, True),  # zero, whatever its exponent
        (1, MIN_EXPONENT, True),
        (1, MIN_EXPONENT - 1, False),
        (17976931348623157, 292, True),  # the largest float
        (17976931348623158, 292, True),  # rounds down to it
        (17976931348623159, 292, False),  # rounds to infinity
        (-(10**309), 0, False),
        (10**309, -1, True),  # 10**308, written with a trailing zero
    ],
)
def test_check_decimal(mantissa: int, exponent: int, accepted: bool) -> None:
    """check_decimal accepts what rounds to a finite float."""
    digits = len(str(abs(mantissa))) if mantissa else 0
    if accepted:
        check_decimal(mantissa, digits, exponent)
    else:
        with pytest.raises(FloatRangeError):
            check_decimal(mantissa, digits, exponent)


MANTISSAS = st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1)


@given(st.lists(st.tuples(MANTISSAS, st.integers(min_value=-400, max_value=280)), max_size=300))
def test_bulk_decimals_are_exact(pairs: list[tuple[int, int]]) -> None:
    chunk = PartialSum()
    chunk.add_bulk(np.array([m for m, _ in pairs], np.int64), np.array([e for _, e in pairs], np.int64))
    expected = sum((Fraction(m) * Fraction(10) ** e for m, e in pairs), Fraction(0))
    total = Fraction(chunk.integers) + sum(
        (Fraction(m) * Fraction(10) ** e for e, m in chunk.by_exponent.items()), Fraction(0)
    )
    assert total == expected
    assert chunk.count == len(pairs)
    assert chunk.is_float


def test_bulk_decimals_at_int64_limits() -> None:
    mantissas = np.full(100_000, 10**18 - 1, np.int64)
    scales = np.arange(100_000, dtype=np.int64) % 19
    chunk = PartialSum()
    chunk.add_bulk(mantissas, -scales)
    expected = sum(Fraction(10**18 - 1, 10 ** int(s)) for s in scales)
    assert exact(chunk) == float(expected)


DECIMAL_TERMS = st.tuples(
    st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=MIN_EXPONENT, max_value=280)
)


@given(st.lists(st.lists(DECIMAL_TERMS, max_size=10), max_size=5), st.lists(st.integers(), max_size=5))
def test_result_is_nearest_float(chunks: list[list[tuple[int, int]]], whole: list[int]) -> None:
    """The result is the float nearest the exact sum."""
    parts = []
    for terms in chunks:
        chunk = PartialSum()
        for mantissa, exponent in terms:
            chunk.add_decimal(mantissa, exponent)
        parts.append(chunk)
    reference = sum(whole, Fraction(0)) + sum(
        (Fraction(m) * Fraction(10) ** e for terms in chunks for m, e in terms), Fraction(0)
    )
    if not any(chunks):
        assert exact(integers(*whole), *parts) == reference
        return
    try:
        expected = float(reference)
    except OverflowError:
        with pytest.raises(FloatRangeError):
            exact(integers(*whole), *parts)
        return
    result = exact(integers(*whole), *parts)
    assert isinstance(result, float)
    assert result == expected
