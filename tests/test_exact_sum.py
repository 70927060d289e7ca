from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exact_sum import ExactSum, FloatRangeError, integer_array_sum

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def exact(*chunks: list[int | float]) -> int | float:
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
    assert exact([9223372036854775807, 1]) == 9223372036854775808
    assert exact([10**40, -(10**39)], [-5]) == 9 * 10**39 - 5


def test_an_empty_list_sums_to_integer_zero() -> None:
    result = exact([])
    assert result == 0
    assert isinstance(result, int)


def test_floats_are_rounded_once() -> None:
    assert exact([0.1, 0.2, 0.3]) == 0.6
    assert exact([1e100, 1.0, -1e100]) == 1.0
    # 10**30 + 0.5 rounds to the float nearest 10**30 + 0.5, not via float(10**30) first.
    assert exact([10**30 + 1], [0.5]) == float(Fraction(10**30 + 1) + Fraction(1, 2))


def test_one_float_makes_the_result_a_float() -> None:
    result = exact([1, 2], [-0.0])
    assert result == 3.0
    assert isinstance(result, float)


def test_a_sum_beyond_the_float_range_is_an_error() -> None:
    with pytest.raises(FloatRangeError):
        exact([1.7e308, 1.7e308])
    with pytest.raises(FloatRangeError):
        exact([10**400], [0.5])


def test_the_count_covers_every_chunk() -> None:
    total = ExactSum()
    total.add(np.arange(5, dtype=np.int64))
    total.add([1.5, 2])
    assert total.count == 7


NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False, max_value=1e300, min_value=-1e300),
)


@given(st.lists(st.lists(NUMBERS, max_size=20), max_size=5))
def test_the_result_is_the_number_nearest_the_exact_sum(chunks: list[list[int | float]]) -> None:
    values = [v for chunk in chunks for v in chunk]
    reference = sum(map(Fraction, values), Fraction(0))
    result = exact(*chunks)
    if any(isinstance(v, float) for v in values):
        assert isinstance(result, float)
        assert result == float(reference)
        assert math.isfinite(result)
    else:
        assert result == reference
