"""The streaming parser and summer against exact references, on any cut of the body."""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number, PartialSum
from app.numbers.json_array import BISECT_BYTES, BULK_BYTES, EXACT_BATCH, MAX_ITEM_BYTES, NumberArrayParser
from tests.numbers.summing import total_of

WHITESPACE = st.text(" \t\n\r", max_size=3)
INTEGERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64),
    st.integers(min_value=-(10**45), max_value=10**45),
).map(str)
DECIMALS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300).map(repr),
    st.builds(
        lambda mantissa, fraction, marker, exponent: f"{mantissa}{fraction}{marker}{exponent}",
        st.integers(min_value=-(10**20), max_value=10**20),
        st.sampled_from(["", ".5", ".25", ".0", ".000123", ".1000000000000000055511151231257827"]),
        st.sampled_from(["e", "E", "e+", "E-", "e-"]),
        st.integers(min_value=0, max_value=400),
    ),
    # Short decimals without an exponent: the bulk path's numbers.
    st.builds(
        lambda whole, fraction: f"{whole}.{fraction}",
        st.integers(min_value=-(10**9), max_value=10**9),
        st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    ),
    st.sampled_from(["-0.0", "0.1", "0.2", "-0.3", "1e23", "0e999", "1e-1100"]),
).filter(lambda text: math.isfinite(float(text)))
NUMBER_TEXTS = st.lists(st.one_of(INTEGERS, INTEGERS, DECIMALS), max_size=40)


def reference_total(texts: list[str]) -> Number:
    """The exact sum of the numbers as written; the float nearest it if any is not an integer."""
    exact = sum((Fraction(Decimal(text)) for text in texts), Fraction(0))
    if any(c in text for text in texts for c in ".eE"):
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


@given(st.data())
def test_any_cut_sums_exactly(data: st.DataObject) -> None:
    """Any array, cut anywhere, sums to the exact reference."""
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
def test_non_number_item_rejected(data: st.DataObject) -> None:
    """A non-number item is rejected, naming its index."""
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
def test_not_one_array_is_rejected(body: bytes) -> None:
    """A body that is not one array of numbers is rejected."""
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
        # The float nearest the exact decimal sum, not the sum of each number's nearest float.
        (b"[0.1, 0.2]", 0.3),
        (b"[0.3, -0.1, -0.2]", 0.0),
        (b"[1e23, -100000000000000000000000]", 0.0),
        (b"[0.1, 0.2, 0.3]", 0.6),
        (b"[1e100, 1.0, -1e100]", 1.0),
        (b"[1000000000000000000000000000000, 0.5]", float(Fraction(10**30) + Fraction(1, 2))),
        (b"[1, 1e3, -0.0, 2E-5]", 1001.00002),
        # The finest digit accepted, and a zero with any exponent.
        (b"[1e-1100, 1]", 1.0),
        (b"[0e99999, 2]", 2.0),
        (b"[1.7976931348623157e308]", 1.7976931348623157e308),
    ],
)
def test_examples_from_the_contract(body: bytes, expected: Number) -> None:
    result = total_of([body])
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("body", [b"[-0.0]", b"[0.5, -0.5]", b"[-0.0, -0e5]"])
def test_a_zero_total_is_positive_zero(body: bytes) -> None:
    result = total_of([body])
    assert result == 0.0
    assert math.copysign(1.0, result) == 1.0


def test_beyond_float_range_is_error() -> None:
    """A sum beyond the float range is an error."""
    with pytest.raises(FloatRangeError):
        total_of([b"[1.7e308, 1.7e308]"])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("1e400", "is beyond the range of a float"),
        ("-1.7976931348623159e308", "is beyond the range of a float"),  # rounds to -inf
        ("1e-1101", "has a digit finer than 10**-1100"),
        ("0.5e-1100", "has a digit finer than 10**-1100"),
    ],
)
def test_out_of_range_is_bad_data(item: str, message: str) -> None:
    """A number outside the accepted range is bad data."""
    with pytest.raises(BackendDataError, match=f"item 1 {re.escape(message)}"):
        total_of([f"[1, {item}]".encode()])


@given(st.integers(min_value=1, max_value=10**20), st.integers(min_value=285, max_value=310))
def test_float_range_rounds_finite(mantissa: int, exponent: int) -> None:
    """The float range is the range that rounds to a finite float."""
    text = f"{mantissa}e{exponent - len(str(mantissa))}"
    if math.isfinite(float(text)):
        assert total_of([f"[{text}]".encode()]) == float(text)
    else:
        with pytest.raises(BackendDataError, match="beyond the range of a float"):
            total_of([f"[{text}]".encode()])


def test_endless_item_is_rejected() -> None:
    """An endless item is rejected before it fills memory."""
    parser = NumberArrayParser()
    list(parser.feed(b"[1, "))
    list(parser.feed(b"9" * MAX_ITEM_BYTES))
    with pytest.raises(BackendDataError, match="item 1 is longer than"):
        parser.feed(b"9")


def test_long_whitespace_is_skipped() -> None:
    """A long run of whitespace is skipped without being kept."""
    body = b"[1," + b" " * 200_000 + b"2" + b"\n" * 200_000 + b"]"
    parser = NumberArrayParser()
    total = ExactSum()
    for start in range(0, len(body), 65_536):
        for chunk in parser.feed(body[start : start + 65_536]):
            total.add(chunk)
        assert len(parser._unparsed) <= 2
    parser.close()
    assert total.result() == 3


def test_kept_whitespace_separates_items() -> None:
    """Whitespace kept between pieces still separates items."""
    with pytest.raises(BackendDataError, match="item 0 is not a valid JSON number"):
        total_of([b"[1", b"    ", b"2]"])


def test_int64_one_array_per_piece() -> None:
    """Plain int64 numbers come out as one compact array per piece."""
    chunks = list(NumberArrayParser().feed(b"[1,2,3,4"))
    assert len(chunks) == 1
    assert isinstance(chunks[0], np.ndarray)
    assert chunks[0].tolist() == [1, 2, 3]
    assert chunks[0].dtype == np.int64


def test_wide_integer_costs_only_itself() -> None:
    """A wide integer costs only its own slow path."""
    numbers = list(range(5000))
    numbers[2500] = 2**70
    body = ("[" + ",".join(map(str, numbers)) + "]").encode()
    parser = NumberArrayParser()
    chunks = list(parser.feed(body))
    in_arrays = sum(len(chunk) for chunk in chunks if isinstance(chunk, np.ndarray))
    # Only the wide item's own part of the body, at most BISECT_BYTES, leaves the int64 arrays.
    assert 5000 - BISECT_BYTES // len("2500,") <= in_arrays < 5000
    total = ExactSum()
    for chunk in chunks:
        total.add(chunk)
    assert total.result() == sum(numbers)


def test_short_decimals_in_bulk() -> None:
    """Short decimals are parsed in bulk, with their scales."""
    texts = ["0.5", "-12.25", "3", "0.000123", "-0.0", "123456789.123456789"]
    chunks = list(NumberArrayParser().feed(("[" + ",".join(texts) + "]").encode()))
    assert len(chunks) == 1
    (chunk,) = chunks
    assert isinstance(chunk, PartialSum)
    assert chunk.count == len(texts)
    # Each number whole, as its digits at its scale: -12.25 is -1225 at 10**-2.
    assert chunk.integers == 3
    assert chunk.by_exponent == {-1: 5, -2: -1225, -6: 123, -9: 123456789123456789}


def test_slow_items_in_small_chunks() -> None:
    """A body of slow items comes in small chunks."""
    # Every item needs the exact parser: it hands over at most EXACT_BATCH at a time, so
    # that the event loop gets a turn between batches.
    texts = [f"{n}.00000000000000000001" for n in range(1, 3 * EXACT_BATCH + 8)]  # 21 digits or more
    chunks = list(NumberArrayParser().feed(("[" + ",".join(texts) + "]").encode()))
    counts = [chunk.count for chunk in chunks if isinstance(chunk, PartialSum)]
    assert sum(counts) == len(texts)
    assert len(counts) >= 4
    assert max(counts) == EXACT_BATCH


def test_long_piece_parsed_in_parts() -> None:
    """A long piece of decimals is parsed in parts."""
    body = ("[" + ",".join(["0.25"] * 20_000) + "]").encode()  # 100 KB
    chunks = list(NumberArrayParser().feed(body))
    counts = [chunk.count for chunk in chunks if isinstance(chunk, PartialSum)]
    assert sum(counts) == 20_000
    assert max(counts) <= BULK_BYTES // len("0.25,") + 1


def test_the_iterator_parses_lazily() -> None:
    chunks = NumberArrayParser().feed(b'[1.5, 2.5, "three"]')
    # Framing happened; the bad item is found only when the chunks are parsed.
    with pytest.raises(BackendDataError, match="item 2 is a string"):
        list(chunks)


def test_beyond_digit_limit_is_exact() -> None:
    """Integers beyond Python's digit limit are summed exactly."""
    widest = b"9" * (MAX_ITEM_BYTES - 1)
    body = b"[1, -" + widest + b", " + widest + b", 2, " + widest + b"]"
    assert total_of([body]) == 10 ** (MAX_ITEM_BYTES - 1) + 2
