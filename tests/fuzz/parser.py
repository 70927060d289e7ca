"""A coverage-guided fuzz target (atheris) for the parser and the exact sum: `make fuzz`.

Any bytes, cut into any pieces, give the exact total or the service's own backend error,
never another exception and never more than a fixed time per byte and per piece; the
pieces give what the whole body gives (the same total, or the same error message); a valid
array gives the total that `fractions.Fraction` gives. The first byte of an input chooses
the cuts, the rest is the body. Seeds: tests/fuzz/corpus, one file per body the tests use.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from decimal import Decimal
from fractions import Fraction

import atheris

with atheris.instrument_imports(include=["app"]):
    from app.numbers.exact_sum import FLOAT_MAX_DIGITS, MIN_EXPONENT, Number
    from tests.numbers.summing import Outcome, one_byte_pieces, outcome_of  # imports the parser: instrumented

# The most an input may take: a fixed allowance, and a time per byte far above the slowest
# body measured (about 0.1 us a byte, tests/numbers/test_work_bound.py) and far below a
# value-bound item (0e1000000: 0.18 s for 11 bytes).
SECONDS_PER_INPUT = 0.25
SECONDS_PER_BYTE = 20e-6
# And per piece, far above the slowest measured (about 0.12 ms: a one-byte piece that
# completes a decimal).
SECONDS_PER_PIECE = 1e-3
# The first byte that cuts the body into one-byte pieces.
ONE_BYTE_A_PIECE = 255


# The least magnitude that rounds to an infinite float, as the service bounds each number.
FLOAT_OVERFLOW = 2**1024 - 2**970


class MustRefuseError(Exception):
    """The body is not an array of numbers the service accepts: it must answer its own error."""


def pieces_of(data: bytes) -> list[bytes]:
    """The body (all but the first byte), cut where the first byte says: 0 leaves it whole,
    ONE_BYTE_A_PIECE cuts it into bytes, any other value seeds random cuts."""
    choice, body = (data[0], data[1:]) if data else (0, b"")
    if choice == 0:
        return [body]
    if choice == ONE_BYTE_A_PIECE:
        return one_byte_pieces(body)
    cuts = random.Random(choice)
    pieces, start = [], 0
    while start < len(body):
        size = cuts.randint(1, 2 * choice)
        pieces.append(body[start : start + size])
        start += size
    return pieces


def timed_outcome(pieces: list[bytes]) -> Outcome:
    """What the service makes of the body in `pieces`, within the time allowed for them."""
    started = time.perf_counter()
    outcome = outcome_of(pieces)
    seconds = time.perf_counter() - started
    size = sum(map(len, pieces))
    if seconds > SECONDS_PER_INPUT + SECONDS_PER_BYTE * size + SECONDS_PER_PIECE * len(pieces):
        raise AssertionError(f"{seconds:.3f} s for {size} bytes in {len(pieces)} pieces")
    return outcome


def reference_total(body: bytes) -> Number:
    """The exact total by `json` and `Fraction`; MustRefuseError where the service must refuse the body.

    Inputs are shorter than the parser's MAX_ITEM_BYTES (`make fuzz` sets -max_len), so no
    item is refused for its length.
    """
    try:
        # Integers as PartialSum: exact at any width, where int() stops at 4,300 digits.
        items = json.loads(
            body.decode("utf-8"), parse_float=Written, parse_int=Decimal, parse_constant=_invalid
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MustRefuseError from None
    if not isinstance(items, list) or not all(type(item) in (Decimal, Written) for item in items):
        raise MustRefuseError
    decimals = [item.value() for item in items if isinstance(item, Written)]
    exact = sum((Fraction(item) for item in items if isinstance(item, Decimal)), sum(decimals, Fraction(0)))
    if not decimals:
        return int(exact)
    try:
        return float(exact)
    except OverflowError:
        raise MustRefuseError from None


class Written:
    """A number json found written with a fraction or an exponent (its grammar checked)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self) -> Fraction:
        """The exact value; MustRefuseError where the service refuses the number."""
        mantissa, _, exponent = self.text.lower().partition("e")
        sign, whole, fraction = mantissa.startswith("-"), *mantissa.lstrip("-").partition(".")[::2]
        digits = (whole + fraction).lstrip("0")
        significant = digits.rstrip("0")
        if not significant:
            return Fraction(0)
        # The powers of ten of its last and first digits: compared, never raised to.
        finest = int(exponent or "0") - len(fraction) + len(digits) - len(significant)
        if finest < MIN_EXPONENT or finest + len(significant) > FLOAT_MAX_DIGITS:
            raise MustRefuseError
        value = (-1 if sign else 1) * int(significant) * Fraction(10) ** finest
        if abs(value) >= FLOAT_OVERFLOW:
            raise MustRefuseError
        return value


def _invalid(constant: str) -> None:
    raise ValueError(constant)


def one_input(data: bytes) -> None:
    pieces = pieces_of(data)
    body = b"".join(pieces)
    whole = timed_outcome([body])
    cut = whole if len(pieces) == 1 else timed_outcome(pieces)
    if cut != whole or _sign(_total(cut)) != _sign(_total(whole)):
        raise AssertionError(f"{body[:200]!r}: {_shown(whole)} whole, {_shown(cut)} in {len(pieces)} pieces")
    got = _total(whole)
    try:
        expected: Number | None = reference_total(body)
    except MustRefuseError:
        expected = None
    if got != expected or type(got) is not type(expected) or _sign(got) != _sign(expected):
        shown = _shown(None if expected is None else (type(expected), expected))
        raise AssertionError(f"{body[:200]!r}: {_shown(whole)}, expected {shown}")


def _total(outcome: Outcome) -> Number | None:
    """The total; None where the body is refused."""
    return None if isinstance(outcome, str) else outcome[1]


def _sign(number: Number | None) -> float:
    """-1.0 for -0.0 as for any negative number: a zero total must be positive zero."""
    return math.copysign(1.0, number) if isinstance(number, float) else 0.0


def _shown(outcome: Outcome | None) -> str:
    """An outcome as a failure names it; None for the service's own error, whatever its message."""
    if outcome is None:
        return "the service's own error"
    if isinstance(outcome, str):
        return repr(outcome)
    number = outcome[1]
    # An int past 4,300 digits has no str() in Python 3.11.
    return f"an int of {number.bit_length()} bits" if isinstance(number, int) else repr(number)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
