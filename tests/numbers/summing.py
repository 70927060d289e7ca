"""The parser and the exact sum together, as a fetch adds a body up, for tests of whole bodies."""

from __future__ import annotations

from collections.abc import Iterable

from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number
from app.numbers.json_array import NumberArrayParser


def total_of(pieces: Iterable[bytes]) -> Number:
    """The exact total of a body fed to the parser in `pieces`."""
    parser = NumberArrayParser()
    total = ExactSum()
    for piece in pieces:
        for chunk in parser.feed(piece):
            total.add(chunk)
    parser.close()
    return total.result()


# A body's total with its type, or the message that refuses the body.
Outcome = tuple[type[Number], Number] | str


def outcome_of(pieces: Iterable[bytes]) -> Outcome:
    """The total of a body fed in `pieces`, with its type; or the message that refuses the body."""
    try:
        total = total_of(pieces)
    except (BackendDataError, FloatRangeError) as error:
        return str(error)
    return type(total), total


def one_byte_pieces(body: bytes) -> list[bytes]:
    return [body[start : start + 1] for start in range(len(body))]
