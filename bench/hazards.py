"""Bodies of hazards against a plain body of the same size: the service's parser and exact sum
alone, on bodies in memory fed in 64 KiB pieces, as a fetch reads them.

A hazard is an item that would cost more than its bytes if the parser computed with its value:
zeros with nine-digit exponents, trailing zeros in a mantissa, an exponent written with many
leading zeros, items that take the bulk path and the exact one in turn, every accepted exponent,
and the shortest items that only the exact parser takes (`1e308`: past the bulk path's digit
bound, read one by one in pure Python). Each body is timed right after integers of its size
(`1234567`, which simdjson reads straight into int64s), in rounds. Target: in every round,
each hazard body at most 1,000 times the plain one. The shortest exact-only items are the worst
a body can be: the most items a byte can hold, each parsed in Python rather than in C.
"""

from __future__ import annotations

import gc
import statistics
import time
from decimal import Decimal
from fractions import Fraction

from bench.load import LoadResult
from tests.numbers.summing import total_of
from tests.probe import percentile

TARGET = 1000
PIECE_BYTES = 65_536
# One repetition of each body: its items, comma-separated.
HAZARDS = {
    "zeros, nine-digit exponents": "0e999999999,-0.0e999999999",
    "the shortest exact-only items": "1e308,-1e308",
    "60,000 trailing zeros": "1" + "0" * 60_000 + "e-60001",
    "60,000 leading zeros in the exponent": "1e-" + "0" * 60_000 + "3",
    "the bulk and exact paths in turn": "1000000000000000000e-19,0e9",
    "every accepted exponent, both signs": ",".join(f"3e{e},-3e{e}" for e in range(-1100, 308)),
}
PLAIN = "1234567"


def body(items: str, size: int) -> tuple[bytes, float]:
    """`items` repeated to about `size` bytes, as a JSON array; and its exact total."""
    repeats = max(1, size // (len(items) + 1))
    one = sum((Fraction(Decimal(item)) for item in items.split(",")), Fraction(0))
    return b"[" + b",".join([items.encode()] * repeats) + b"]", float(one * repeats)


def seconds(data: bytes, expected: float) -> tuple[float, bool]:
    """The best of three times to add up `data` fed in pieces, and whether every total was right."""
    times, right = [], True
    for _ in range(3):
        gc.collect()  # each run starts with no garbage of the one before to collect
        started = time.perf_counter()
        total = total_of(data[start : start + PIECE_BYTES] for start in range(0, len(data), PIECE_BYTES))
        times.append(time.perf_counter() - started)
        right = right and total == expected
    return min(times), right


def hazards(smoke: bool) -> list[LoadResult]:
    size, rounds = (65_536, 2) if smoke else (1_048_576, 7)
    print(f"\n## Bodies of hazards against plain integers: {size // 1024} KiB each, {rounds} rounds")
    print(
        "\nThe parser and exact sum alone, on each body in memory fed in 64 KiB pieces, right after"
        f" a plain body of its size ({PLAIN}, repeated), each the best of three runs. Ratio: the hazard"
        f" body's time over the plain one's in the same round. Target: the slowest round's ratio <= {TARGET}."
    )
    print(
        "\n| body | items | median | plain median | median ratio | slowest round's ratio | target |"
        "\n|---|---:|---:|---:|---:|---:|---|"
    )
    plain, plain_total = body(PLAIN, size)
    results = []
    for name, items in HAZARDS.items():
        data, expected = body(items, size)
        times, plain_times, wrong = [], [], 0
        for _ in range(rounds):
            plain_seconds, plain_right = seconds(plain, plain_total)
            hazard_seconds, right = seconds(data, expected)
            plain_times.append(plain_seconds)
            times.append(hazard_seconds)
            wrong += (not plain_right) + (not right)
        ratios = [mine / theirs for mine, theirs in zip(times, plain_times, strict=True)]
        worst = max(ratios)
        verdict = "met" if worst <= TARGET else "missed"
        print(
            f"| {name} | {data.count(b',') + 1} | {statistics.median(times) * 1000:.1f} ms"
            f" | {statistics.median(plain_times) * 1000:.2f} ms | {statistics.median(ratios):.0f}"
            f" | {worst:.0f} | <= {TARGET} ({verdict}) |"
        )
        quantiles = (percentile(times, 0.50), percentile(times, 0.90), percentile(times, 0.99), max(times))
        results.append(LoadResult(rounds, 0, wrong, sum(times), *quantiles))
    return results
