"""Exact sums of number chunks: every number is the exact decimal it was written as.

A JSON number is decimal text, so each one is an exact rational `m * 10**e`. Integers are
summed as Python ints (never overflowing); decimals as exact mantissa sums per exponent.
The total is the exact integer, or, once any number was written with a fraction or an
exponent, the float nearest the exact decimal sum, rounded once at the end:
`[0.1, 0.2]` gives 0.3, not 0.30000000000000004.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

IntArray: TypeAlias = npt.NDArray[np.signedinteger[Any]]

_INT64_LIMIT = 2**63
# The finest digit a number may have: 10**-1100 holds any double written out in full
# (the smallest, 2**-1074, has its last digit at 10**-1074) and bounds the work one
# number can cause.
MIN_EXPONENT = -1100
# A number's magnitude must round to a finite float: below 2**1024 - 2**970, the halfway
# point between the largest float (about 1.8 * 10**308) and infinity.
FLOAT_MAX_DIGITS = 309
_FLOAT_OVERFLOW = 2**1024 - 2**970


class FloatRangeError(ArithmeticError):
    """A number, or the exact sum of numbers that include decimals, is beyond the float range."""


def integer_array_sum(values: IntArray) -> int:
    """The exact sum of an int32 or int64 array, however large its items."""
    if values.dtype.itemsize <= 4:
        # 32-bit items added in int64 cannot overflow before 2**32 of them.
        return int(values.sum(dtype=np.int64))
    if values.size == 0:
        return 0
    bound = max(-int(values.min()), int(values.max()))
    if bound * values.size < _INT64_LIMIT:
        return int(values.sum())
    # Split each item into a signed high and an unsigned low 32-bit half: neither half's
    # sum can overflow int64 for arrays shorter than 2**31.
    high = int((values >> 32).sum())
    low = int((values & 0xFFFFFFFF).sum())
    return (high << 32) + low


@dataclass
class PartialSum:
    """An exact partial sum of numbers as written: sum(by_exponent[e] * 10**e) + integers."""

    integers: int = 0
    # Mantissa sums by (negative) exponent: 0.25 adds 25 at -2.
    by_exponent: dict[int, int] = field(default_factory=dict)
    count: int = 0
    # Whether some number was written with a fraction or an exponent: the total is then a float.
    is_float: bool = False

    def add_integer(self, value: int) -> None:
        self.integers += value
        self.count += 1

    def add_array(self, values: IntArray) -> None:
        """Add an int32 or int64 array of integers."""
        self.integers += integer_array_sum(values)
        self.count += len(values)

    def merge(self, other: PartialSum) -> None:
        """Add everything `other` holds."""
        self.integers += other.integers
        self.count += other.count
        self.is_float = self.is_float or other.is_float
        for exponent, mantissa in other.by_exponent.items():
            self.by_exponent[exponent] = self.by_exponent.get(exponent, 0) + mantissa

    def add_decimal(self, mantissa: int, exponent: int) -> None:
        """Add `mantissa * 10**exponent`, a number written with a fraction or an exponent.

        The caller checks it with `check_decimal` first, which bounds the work it causes.
        A zero is an exact zero whatever its exponent: its exponent is never a power computed.
        """
        self.count += 1
        self.is_float = True
        if not mantissa:
            return
        if exponent >= 0:
            self.integers += mantissa * 10**exponent
        else:
            self.by_exponent[exponent] = self.by_exponent.get(exponent, 0) + mantissa

    def add_bulk(self, mantissas: npt.NDArray[np.int64], exponents: npt.NDArray[np.int64]) -> None:
        """Add `mantissas[i] * 10**exponents[i]` for each i: numbers with a fraction or an
        exponent, parsed in bulk and checked by the caller.

        Each mantissa is below 10**18 and there are fewer than 2**21 of them: split into a
        high and a low 32-bit half, their sums per exponent stay below 2**53, exact in the
        float64 that np.bincount adds in (one pass for all exponents, not one per exponent).
        """
        self.count += len(mantissas)
        self.is_float = True
        if not len(mantissas):
            return
        lowest = int(exponents.min())
        offsets = exponents - lowest
        high = np.bincount(offsets, weights=mantissas >> 32)
        low = np.bincount(offsets, weights=mantissas & 0xFFFFFFFF)
        for offset in np.flatnonzero(high.astype(bool) | low.astype(bool)).tolist():
            group = (int(high[offset]) << 32) + int(low[offset])
            exponent = lowest + offset
            if exponent >= 0:
                self.integers += group * 10**exponent
            elif group:
                self.by_exponent[exponent] = self.by_exponent.get(exponent, 0) + group


def check_decimal(mantissa: int, digits: int, exponent: int) -> None:
    """Raise FloatRangeError unless `mantissa * 10**exponent` is a number the sum accepts.

    `digits` is the number of digits of `mantissa` (0 for zero, which is always fine); the
    caller moves trailing zeros into the exponent, so 1.500 and 15e-1 are checked alike.
    """
    if digits == 0:
        return
    if exponent < MIN_EXPONENT:
        raise FloatRangeError(f"has a digit finer than 10**{MIN_EXPONENT}")
    magnitude = digits + exponent  # the value is below 10**magnitude, at least 10**(magnitude - 1)
    if magnitude > FLOAT_MAX_DIGITS or (
        magnitude == FLOAT_MAX_DIGITS
        and abs(mantissa) * 10 ** max(exponent, 0) >= _FLOAT_OVERFLOW * 10 ** max(-exponent, 0)
    ):
        raise FloatRangeError("is beyond the range of a float")


Chunk: TypeAlias = IntArray | PartialSum
Number: TypeAlias = int | float


class ExactSum:
    """Accumulates chunks; the result is the exact integer sum, or the float nearest the exact sum."""

    def __init__(self) -> None:
        self._sum = PartialSum()

    @property
    def count(self) -> int:
        return self._sum.count

    def add(self, chunk: Chunk) -> None:
        if isinstance(chunk, np.ndarray):
            self._sum.add_array(chunk)
        else:
            self._sum.merge(chunk)

    def result(self) -> Number:
        total = self._sum
        if not total.is_float:
            return total.integers
        # Every term over the one denominator 10**scale; an exact zero is 0.0, never -0.0.
        scale = -min(total.by_exponent, default=0)
        denominator: int = 10**scale
        numerator = total.integers * denominator
        for exponent, mantissa in total.by_exponent.items():
            numerator += mantissa * 10 ** (exponent + scale)
        try:
            # int / int is correctly rounded in CPython: one rounding, of the exact sum.
            return numerator / denominator
        except OverflowError:
            raise FloatRangeError("the sum is beyond the range of a float") from None
