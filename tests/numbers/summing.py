"""The parser and the exact sum together, as a fetch adds a body up, for tests of whole bodies."""

from __future__ import annotations

from collections.abc import Iterable

from app.numbers.exact_sum import ExactSum, Number
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
