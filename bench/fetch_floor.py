"""The 10M list over HTTP against its floor: aiohttp reading the same body and throwing it
away, then simdjson's own parse of that body, each pair in a process of its own on the
server's core, back to back with a /total.

pysimdjson, the fastest JSON parser for Python, holds the GIL, so on the one core a worker
has, parsing overlaps receiving only while the read waits for the backend's bytes: the floor
of a fetch is the bare read plus simdjson's parse. Target: /total over that floor at most 2.0,
the median of the pairs' ratios.

Two ways the reference backend sends the body: its own pieces, which end between numbers,
and pieces cut every 64 KiB wherever that falls (numbers cut in two, as any backend's bytes
may arrive). Beside them, on the same core and the same body in memory: the service's parser
and exact sum alone.
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
TARGET = 2.0


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
    def floor(self) -> float:
        return statistics.median(read.read + read.simdjson for read in self.bare)

    @property
    def ratio(self) -> float:
        """/total over the floor: the median of the pairs' ratios."""
        pairs = zip(self.ours, self.bare, strict=True)
        return statistics.median(mine / (theirs.read + theirs.simdjson) for mine, theirs in pairs)


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
    print(f"\n## The {count}-number list over HTTP against its floor, {pairs} back-to-back pairs")
    print(
        "\nMedians. Floor: aiohttp's bare read of the body plus simdjson's parse of it, on the server's core;"
        " parser + sum: the service's parser and exact sum alone on the same body in memory."
        f" Target: /total / floor <= {TARGET}, the median of the pairs' ratios."
    )
    print(
        "\n| body sent in | bare read | simdjson parse | floor | /total | parser + sum alone"
        " | /total / floor | target |\n|---|---:|---:|---:|---:|---:|---:|---|"
    )
    for row in rows:
        verdict = "met" if row.ratio <= TARGET else "missed"
        seconds = (row.read, row.simdjson, row.floor, row.total, row.parser)
        times = " | ".join(f"{each * 1000:.1f} ms" for each in seconds)
        print(f"| {row.name} | {times} | {row.ratio:.2f} | <= {TARGET} ({verdict}) |")
    if destination is not None:
        fetch_against_bare(destination, "fetch-floor.png", [(row.name, row.floor, row.total) for row in rows])
    return results
