"""Exact summing of number chunks: integers never overflow, floats are rounded once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

IntArray: TypeAlias = npt.NDArray[np.signedinteger[Any]]
# A chunk is either a compact array of int32 or int64 (the fast path) or plain Python
# numbers, for integers beyond int64 and for floats.
Chunk: TypeAlias = IntArray | Sequence[int | float]
Number: TypeAlias = int | float

_INT64_LIMIT = 2**63
# Every finite float is a multiple of 2**-1074, so floats scaled by 2**1074 are integers
# and add up exactly.
_FLOAT_SCALE_BITS = 1074


class FloatRangeError(ArithmeticError):
    """The exact sum of numbers that include floats is beyond the float range."""


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


class ExactSum:
    """Accumulates chunks; the result is the exact sum, or the float nearest to it."""

    def __init__(self) -> None:
        self.count = 0
        self._integers = 0
        self._scaled_floats = 0
        self._has_float = False

    def add(self, chunk: Chunk) -> None:
        self.count += len(chunk)
        if isinstance(chunk, np.ndarray):
            self._integers += integer_array_sum(chunk)
            return
        for value in chunk:
            if isinstance(value, float):
                self._add_float(value)
            else:
                self._integers += value

    def _add_float(self, value: float) -> None:
        numerator, denominator = value.as_integer_ratio()
        # The denominator is a power of two no larger than 2**1074.
        self._scaled_floats += numerator << (_FLOAT_SCALE_BITS - denominator.bit_length() + 1)
        self._has_float = True

    def result(self) -> Number:
        if not self._has_float:
            return self._integers
        exact = (self._integers << _FLOAT_SCALE_BITS) + self._scaled_floats
        try:
            # int / int is correctly rounded in CPython: one rounding, of the exact sum.
            return exact / (1 << _FLOAT_SCALE_BITS)
        except OverflowError:
            raise FloatRangeError("the sum is beyond the range of a float") from None
