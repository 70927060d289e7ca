"""The 10M list over HTTP against its floor: aiohttp reading the same body and throwing it
away, each in a process of its own on the server's core, in back-to-back pairs.

Two ways the reference backend sends the body: its own pieces, which end between numbers,
and pieces cut every 64 KiB wherever that falls (numbers cut in two, as any backend's bytes
may arrive). Target: /total over the bare read at most 2.0, the median of the pairs' ratios.

Beside them, on the same core and the same body in memory: the service's parser and exact
sum, and simdjson's parse alone, with its ratio to the bare read. pysimdjson holds the GIL,
so parsing overlaps receiving only while the read waits for the backend's bytes: where
simdjson alone takes as long as the bare read, a ratio of 2.0 leaves the rest of the fetch
(receiving, taking the numbers out, summing) no time at all.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.charts import Destination, fetch_against_bare
from bench.load import LoadResult, sequential
from tests.processes import PROJECT, reference_backend, service

CUT = 65_536


@dataclass(frozen=True)
class BareRead:
    """Seconds: aiohttp reading the body, then the service's parser and simdjson alone on it."""

    read: float
    parser: float
    simdjson: float


def bare_read(url: str, cpus: set[int]) -> BareRead:
    output = subprocess.run(
        [sys.executable, "-m", "bench.bare_read", url],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    ).stdout
    return BareRead(**json.loads(output))


@dataclass(frozen=True)
class Row:
    name: str
    bare: list[BareRead]
    ours: list[float]

    @property
    def read(self) -> float:
        return statistics.median(read.read for read in self.bare)

    @property
    def total(self) -> float:
        return statistics.median(self.ours)

    @property
    def parser(self) -> float:
        return statistics.median(read.parser for read in self.bare)

    @property
    def simdjson(self) -> float:
        return statistics.median(read.simdjson for read in self.bare)

    @property
    def ratio(self) -> float:
        """The median of the pairs' ratios."""
        pairs = zip(self.ours, self.bare, strict=True)
        return statistics.median(mine / theirs.read for mine, theirs in pairs)

    @property
    def simdjson_ratio(self) -> float:
        return statistics.median(read.simdjson / read.read for read in self.bare)


def fetch_floor(
    log_dir: Path, smoke: bool, service_cpus: set[int], load_cpus: set[int], destination: Destination | None
) -> list[LoadResult]:
    count, pairs = (1000, 2) if smoke else (10_000_001, 7)
    expected = b'{"total":%d}' % (count * (count - 1) // 2)
    rows, results = [], []
    with reference_backend(log_dir, count, cpus=load_cpus) as backend:
        for name, query in (("the backend's own pieces", ""), (f"cut every {CUT} bytes", f"&cut={CUT}")):
            url = f"{backend.url}/numbers?etag=off{query}"
            with service({"NUMBERS_API_URL": url}, log_dir, cpus=service_cpus) as server:
                sequential(server.url + "/total", expected, 1)  # warm-up: the backend renders once
                bare: list[BareRead] = []
                ours: list[float] = []
                for _ in range(pairs):
                    bare.append(bare_read(url, service_cpus))
                    result = sequential(server.url + "/total", expected, 1)
                    ours.append(result.p50)
                    results.append(result)
            rows.append(Row(name, bare, ours))
    print(f"\n## The {count}-number list over HTTP against a bare read, {pairs} back-to-back pairs")
    print(
        "\nMedians. Parser and simdjson: the same body in memory, on the same core, after each bare read."
        " simdjson / bare: how long simdjson's parse alone takes against the whole bare read."
    )
    print(
        "\n| body sent in | aiohttp bare read | /total | parser + sum alone | simdjson alone"
        " | /total / bare (median of pairs) | simdjson / bare | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        verdict = "met" if row.ratio <= 2.0 else "missed"
        times = " | ".join(
            f"{seconds * 1000:.1f} ms" for seconds in (row.read, row.total, row.parser, row.simdjson)
        )
        print(f"| {row.name} | {times} | {row.ratio:.2f} | {row.simdjson_ratio:.2f} | <= 2.0 ({verdict}) |")
    if destination is not None:
        fetch_against_bare(destination, "fetch-floor.png", [(row.name, row.read, row.total) for row in rows])
    return results
