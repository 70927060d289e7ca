"""Integers of any width to and from decimal text, quickly enough to run on the event loop.

CPython 3.11 converts between int and decimal text in quadratic time and refuses more than
4,300 digits (`sys.get_int_max_str_digits`) so that no input can hold the interpreter. GMP's
conversions are subquadratic (docs/design.md, "Exact, at any width"). Up to the limit, int()
and str() are the faster.
"""

from __future__ import annotations

import sys

import gmpy2

# Python's own limit, read once: below it int() and str() are quick and allowed.
_PYTHON_DIGITS = sys.get_int_max_str_digits()
# log10(2): a bound on the decimal digits of an int from its bit length.
_DIGITS_PER_BIT = 0.30103


def from_text(text: bytes) -> int:
    """The int that the validated integer text (digits, an optional sign) writes."""
    if len(text) < _PYTHON_DIGITS:
        return int(text)
    return int(gmpy2.mpz(text))


def from_texts(texts: list[bytes]) -> list[int]:
    """`from_text` of each text; at int()'s speed while all of them are within Python's limit."""
    try:
        return list(map(int, texts))
    except ValueError:  # one of them is past the limit, which int() checks before converting
        return [int(text) if len(text) < _PYTHON_DIGITS else int(gmpy2.mpz(text)) for text in texts]


def to_text(value: int) -> str:
    """`value` in decimal, at any width."""
    if value.bit_length() * _DIGITS_PER_BIT < _PYTHON_DIGITS - 1:
        return str(value)
    return str(gmpy2.mpz(value).digits(10))
