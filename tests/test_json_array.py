"""The streaming parser and summer against exact references, on any cut of the body."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.backend_errors import BackendDataError
from app.exact_sum import ExactSum, FloatRangeError, Number
from app.json_array import MAX_ITEM_BYTES, NumberArrayParser

WHITESPACE = st.text(" \t\n\r", max_size=3)
INTEGERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64),
    st.integers(min_value=-(10**45), max_value=10**45),
).map(str)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300).map(repr),
    st.builds(
        lambda mantissa, fraction, marker, exponent: f"{mantissa}{fraction}{marker}{exponent}",
        st.integers(min_value=-(10**20), max_value=10**20),
        st.sampled_from(["", ".5", ".25", ".0", ".000123"]),
        st.sampled_from(["e", "E", "e+", "E-", "e-"]),
        st.integers(min_value=0, max_value=300),
    ),
    st.just("-0.0"),
).filter(lambda text: math.isfinite(float(text)))
NUMBER_TEXTS = st.lists(st.one_of(INTEGERS, INTEGERS, FLOATS), max_size=40)


def value_of(text: str) -> Number:
    """What a JSON number denotes, parsed the plain Python way."""
    return float(text) if any(c in text for c in ".eE") else int(text)


def reference_total(texts: list[str]) -> Number:
    values = [value_of(t) for t in texts]
    exact = sum(map(Fraction, values), Fraction(0))
    if any(isinstance(v, float) for v in values):
        return float(exact)
    return int(exact)


@st.composite
def documents(draw: st.DrawFn, texts: list[str]) -> str:
    """`texts` as a JSON array with random whitespace."""
    items = [draw(WHITESPACE) + text + draw(WHITESPACE) for text in texts]
    return draw(WHITESPACE) + "[" + draw(WHITESPACE) + ",".join(items) + "]" + draw(WHITESPACE)


@st.composite
def cuts(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """`body` cut at random places, pieces of one byte included."""
    points = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=12)))
    if draw(st.booleans()):
        points += range(0, len(body), max(1, len(body) // 20))  # many one-byte-ish pieces
        points.sort()
    bounds = [0, *points, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def total_of(pieces: list[bytes]) -> Number:
    parser = NumberArrayParser()
    total = ExactSum()
    for piece in pieces:
        for chunk in parser.feed(piece):
            total.add(chunk)
    parser.close()
    return total.result()


@given(st.data())
def test_any_array_cut_anywhere_sums_to_the_exact_reference(data: st.DataObject) -> None:
    texts = data.draw(NUMBER_TEXTS)
    body = data.draw(documents(texts)).encode()
    pieces = data.draw(cuts(body))
    try:
        expected = reference_total(texts)
    except OverflowError:  # the exact sum is beyond the float range
        with pytest.raises(FloatRangeError):
            total_of(pieces)
        return
    result = total_of(pieces)
    assert result == expected
    assert type(result) is type(expected)


BAD_ITEMS = st.sampled_from(
    ['"7"', '"a,b]"', "true", "false", "null", "{}", '{"n": 1}', "[]", "[1]", "NaN", "Infinity", "-Infinity"]
)
MALFORMED_NUMBERS = st.sampled_from(["01", "-01", "1.", ".5", "+1", "--1", "1e", "1e+", "0x10", "1 2", "-"])


@given(st.data())
def test_a_non_number_item_is_rejected_naming_its_index(data: st.DataObject) -> None:
    texts = data.draw(st.lists(INTEGERS, max_size=10))
    index = data.draw(st.integers(min_value=0, max_value=len(texts)))
    bad = data.draw(st.one_of(BAD_ITEMS, MALFORMED_NUMBERS))
    texts.insert(index, bad)
    body = data.draw(documents(texts)).encode()
    with pytest.raises(BackendDataError, match=f"item {index} "):
        total_of(data.draw(cuts(body)))


@given(st.data())
def test_a_truncated_array_is_rejected(data: st.DataObject) -> None:
    body = data.draw(documents(data.draw(NUMBER_TEXTS))).encode()
    end = data.draw(st.integers(min_value=0, max_value=body.rindex(b"]")))
    with pytest.raises(BackendDataError):
        total_of(data.draw(cuts(body[:end])))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{}",
        b'{"numbers": [1]}',
        b'"[1]"',
        b"1",
        b"null",
        b"[1,2]]",
        b"[1] 2",
        b"[1],",
        b"[1,]",
        b"[,1]",
        b"[1,,2]",
    ],
)
def test_a_body_that_is_not_one_array_of_numbers_is_rejected(body: bytes) -> None:
    with pytest.raises(BackendDataError):
        total_of([body])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[]", 0),
        (b" [ ] ", 0),
        (b"[9223372036854775807, 1]", 9223372036854775808),
        (b"[-9223372036854775808, -1]", -9223372036854775809),
        (b"[1234567890123456789012345678901234567890, -1]", 1234567890123456789012345678901234567889),
        (b"[0.1, 0.2, 0.3]", 0.6),
        (b"[1e100, 1.0, -1e100]", 1.0),
        (b"[1000000000000000000000000000000, 0.5]", float(Fraction(10**30) + Fraction(1, 2))),
        (b"[1, 1e3, -0.0, 2E-5]", 1001.00002),
    ],
)
def test_examples_from_the_contract(body: bytes, expected: Number) -> None:
    result = total_of([body])
    assert result == expected
    assert type(result) is type(expected)


def test_a_sum_beyond_the_float_range_is_an_error() -> None:
    with pytest.raises(FloatRangeError):
        total_of([b"[1.7e308, 1.7e308]"])


def test_a_float_literal_beyond_the_float_range_is_bad_data() -> None:
    with pytest.raises(BackendDataError, match="item 1 is beyond the range of a float"):
        total_of([b"[1, 1e400]"])


def test_an_endless_item_is_rejected_before_it_fills_memory() -> None:
    parser = NumberArrayParser()
    parser.feed(b"[1, ")
    parser.feed(b"9" * (MAX_ITEM_BYTES - 1))  # with the space before it: the limit, not over
    with pytest.raises(BackendDataError, match="item 1 is longer than"):
        parser.feed(b"9")


def test_plain_int64_numbers_come_out_as_one_compact_array_per_piece() -> None:
    parser = NumberArrayParser()
    chunks = parser.feed(b"[1,2,3,4")
    assert len(chunks) == 1
    assert chunks[0].tolist() == [1, 2, 3]  # type: ignore[union-attr]
    assert str(chunks[0].dtype) == "int64"  # type: ignore[union-attr]
