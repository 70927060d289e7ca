"""The 10M list over HTTP against its floor: aiohttp reading the same body and throwing it
away, each in a process of its own on the server's core, in back-to-back pairs.

Two ways the reference backend sends the body: its own pieces, which end between numbers,
and pieces cut every 64 KiB wherever that falls (numbers cut in two, as any backend's bytes
may arrive). Target: /total over the bare read at most 2.0, the median of the pairs' ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.charts import Destination, fetch_against_bare
from bench.load import LoadResult, sequential
from bench.processes import PROJECT, reference_backend, service

CUT = 65_536


def bare_read(url: str, cpus: set[int]) -> float:
    output = subprocess.run(
        [sys.executable, "-m", "bench.bare_read", url],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    ).stdout
    return float(output)


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
                bare, ours = [], []
                for _ in range(pairs):
                    bare.append(bare_read(url, service_cpus))
                    result = sequential(server.url + "/total", expected, 1)
                    ours.append(result.p50)
                    results.append(result)
            ratios = [mine / theirs for mine, theirs in zip(ours, bare, strict=True)]
            rows.append((name, statistics.median(bare), statistics.median(ours), statistics.median(ratios)))
    print(f"\n## The {count}-number list over HTTP against a bare read, {pairs} back-to-back pairs")
    print("\n| body sent in | aiohttp bare read | /total | /total / bare (median of pairs) | target |")
    print("|---|---:|---:|---:|---|")
    for name, bare_median, ours_median, ratio in rows:
        verdict = "met" if ratio <= 2.0 else "missed"
        times = f"{bare_median * 1000:.1f} ms | {ours_median * 1000:.1f} ms"
        print(f"| {name} | {times} | {ratio:.2f} | <= 2.0 ({verdict}) |")
    if destination is not None:
        fetch_against_bare(
            destination, "fetch-floor.png", [(name, bare, ours) for name, bare, ours, _ in rows]
        )
    return results
