"""The streaming parser and summer against exact references, on any cut of the body."""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.numbers.errors import BackendDataError
from app.numbers.exact_sum import ExactSum, FloatRangeError, Number, PartialSum
from app.numbers.json_array import BISECT_BYTES, BULK_BYTES, EXACT_BATCH, MAX_ITEM_BYTES, NumberArrayParser
from tests.numbers.summing import Outcome, one_byte_pieces, outcome_of, total_of

WHITESPACE = st.text(" \t\n\r", max_size=3)
# Bodies up to this long are fed one byte a piece too: a piece costs a call of the parser
# (up to 0.1 ms for a decimal), and hypothesis's deadline is off where they are.
SHORT_BODY = 256
# At most this many one-byte pieces in a row elsewhere.
ONE_BYTE_RUN = 600
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
    """`body` cut at random places (empty pieces included), with a run of one-byte pieces or not."""
    points = draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=12))
    if draw(st.booleans()):
        start = draw(st.integers(min_value=0, max_value=len(body)))
        points += range(start, min(len(body), start + ONE_BYTE_RUN))
    bounds = [0, *sorted(points), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def assert_same_however_cut(data: st.DataObject, body: bytes) -> Outcome:
    """What `body` gives whole, checked to be what it gives cut anywhere (one byte a piece if short)."""
    whole = outcome_of([body])
    assert outcome_of(data.draw(cuts(body))) == whole
    if len(body) <= SHORT_BODY:
        assert outcome_of(one_byte_pieces(body)) == whole
    return whole


@settings(deadline=None)
@given(st.data())
def test_any_cut_sums_exactly(data: st.DataObject) -> None:
    """Any array sums to the exact reference, whole and however it is cut."""
    texts = data.draw(NUMBER_TEXTS)
    whole = assert_same_however_cut(data, data.draw(documents(texts)).encode())
    try:
        expected = reference_total(texts)
    except OverflowError:  # the exact sum is beyond the float range
        assert whole == "the sum is beyond the range of a float"
        return
    assert whole == (type(expected), expected)


BAD_ITEMS = st.sampled_from(
    ['"7"', '"a,b]"', "true", "false", "null", "{}", '{"n": 1}', "[]", "[1]", "NaN", "Infinity", "-Infinity"]
)
MALFORMED_NUMBERS = st.sampled_from(["01", "-01", "1.", ".5", "+1", "--1", "1e", "1e+", "0x10", "1 2", "-"])


# Runs of whitespace: short ones of every kind, long ones of spaces.
WHITESPACE_RUNS = st.one_of(
    st.text(" \t\n\r", min_size=1, max_size=4), st.integers(2, 100_000).map(lambda n: " " * n)
)


def _split_by(text: str, at: int, whitespace: str) -> str:
    at = 1 + at % (len(text) - 1)
    return text[:at] + whitespace + text[at:]


def _around_the_limit(left: int, whitespace: str, over: int) -> str:
    """Digits with whitespace inside, `over` bytes longer than MAX_ITEM_BYTES as a run counts one."""
    return "9" * left + whitespace + "9" * (MAX_ITEM_BYTES - 1 - left + over)


BAD_OR_LONG_ITEMS = st.one_of(
    BAD_ITEMS,
    MALFORMED_NUMBERS,
    # Whitespace inside a number.
    st.builds(
        _split_by,
        st.one_of(INTEGERS, DECIMALS).filter(lambda text: len(text) > 1),
        st.integers(0, 100),
        WHITESPACE_RUNS,
    ),
    # Too long, or just not: digits, a string, digits with whitespace inside.
    st.builds(lambda over: "9" * (MAX_ITEM_BYTES + over), st.integers(1, 3)),
    st.builds(lambda over: '"' + "a" * (MAX_ITEM_BYTES + over) + '"', st.integers(-2, 1)),
    st.builds(_around_the_limit, st.integers(1, MAX_ITEM_BYTES - 2), WHITESPACE_RUNS, st.integers(0, 1)),
)


@settings(deadline=None)
@given(st.data())
def test_bad_body_same_error_however_cut(data: st.DataObject) -> None:
    """A body with a bad or too long item gives the same error however it is cut, naming the item."""
    texts = data.draw(st.lists(st.one_of(INTEGERS, DECIMALS), max_size=8))
    index = data.draw(st.integers(min_value=0, max_value=len(texts)))
    texts.insert(index, data.draw(BAD_OR_LONG_ITEMS))
    # Data after the array is said after the bad item before it.
    after = data.draw(st.sampled_from(["", " x", "]", ",1", "[2]"]))
    whole = assert_same_however_cut(data, (data.draw(documents(texts)) + after).encode())
    assert isinstance(whole, str)
    assert whole.startswith(f"item {index} ")


@settings(deadline=None)
@given(st.data())
def test_a_broken_array_gives_the_same_error_however_cut(data: st.DataObject) -> None:
    """A truncated array, or one with data after it, is refused the same however it is cut."""
    body = data.draw(documents(data.draw(NUMBER_TEXTS))).encode()
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(min_value=0, max_value=body.rindex(b"]")))]
        expected = "the body ends before the JSON array does"
    else:
        body += data.draw(st.sampled_from([b"x", b" ]", b",", b"[]", b" 1", b'\n"a"']))
        expected = "the body goes on after the end of the JSON array"
    assert assert_same_however_cut(data, body) == expected


def pieces_of(body: bytes, size: int | None) -> list[bytes]:
    """`body` in pieces of `size` bytes; whole if None."""
    if size is None:
        return [body]
    return [body[start : start + size] for start in range(0, len(body), size)]


# 262,144 bytes, as the service reads: a piece holds complete items and the start of the long one.
@pytest.mark.parametrize("size", [None, 1024, 262_144])
@pytest.mark.parametrize("length", [MAX_ITEM_BYTES + 1, 1_000_000])
@pytest.mark.parametrize("index", [0, 5, 100_000])
def test_too_long_item_named_at_its_index(index: int, length: int, size: int | None) -> None:
    body = b"[" + b"1, " * index + b"7" * length + b", 2]"
    assert outcome_of(pieces_of(body, size)) == f"item {index} is longer than {MAX_ITEM_BYTES} bytes"


def test_too_long_item_whole_and_in_one_byte_pieces() -> None:
    body = b"[1, " + b"9" * (MAX_ITEM_BYTES + 1) + b", 2]"
    message = f"item 1 is longer than {MAX_ITEM_BYTES} bytes"
    assert outcome_of([body]) == outcome_of(one_byte_pieces(body)) == message


@pytest.mark.parametrize("size", [None, 1000, 4096])
def test_item_length_leaves_out_whitespace_around(size: int | None) -> None:
    """An item of MAX_ITEM_BYTES is accepted with any whitespace around it; one byte more is not."""
    longest = b"-" + b"9" * (MAX_ITEM_BYTES - 1)
    around = b" \t\n\r" * 30_000
    body = b"[1," + around + longest + around + b"]"
    assert outcome_of(pieces_of(body, size)) == (int, 2 - 10 ** (MAX_ITEM_BYTES - 1))
    body = b"[1," + around + longest + b"9" + around + b"]"
    assert outcome_of(pieces_of(body, size)) == f"item 1 is longer than {MAX_ITEM_BYTES} bytes"


@pytest.mark.parametrize("size", [None, 1000, 7])
def test_whitespace_inside_an_item_quoted_as_one_space(size: int | None) -> None:
    body = b"[1, 2" + b" \t" * 50_000 + b"3, 4]"
    assert outcome_of(pieces_of(body, size)) == "item 1 is not a valid JSON number: '2 3'"


@pytest.mark.parametrize("size", [None, 1000])
def test_bad_item_named_before_a_too_long_one(size: int | None) -> None:
    """A too long item left unfinished by a piece is said after the piece's own bad items."""
    body = b"[1, x, " + b"9" * (MAX_ITEM_BYTES + 1)
    assert outcome_of([*pieces_of(body, size), b"]"]) == "item 1 is not a valid JSON number: 'x'"


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
        list(parser.feed(b"9"))


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
