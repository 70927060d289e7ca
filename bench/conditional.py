"""A conditional fetch: /total against an unchanged list, answered 304 by the backend, against
the same list fetched in full, one request of each in turn from two servers.

The backend counts the bodies it sent: after the first fetch, the conditional server must
get none.
"""

from __future__ import annotations

import json
import statistics
import sys
import urllib.request
from pathlib import Path

from bench.load import LoadResult, sequential
from tests.processes import ServerProcess, reference_backend

ROUNDS = 10


def conditional(log_dir: Path, smoke: bool, server_cpus: set[int], load_cpus: set[int]) -> list[LoadResult]:
    count = 1000 if smoke else 10_000_001
    rounds = 2 if smoke else ROUNDS
    total = b'{"total":%d}' % (count * (count - 1) // 2)
    argv = [sys.executable, "-m", "app"]
    with reference_backend(log_dir, count, cpus=load_cpus) as backend:
        unchanged_url = f"{backend.url}/numbers?client=conditional"
        full_url = f"{backend.url}/numbers?client=full&etag=off"
        with (
            ServerProcess(argv, {"NUMBERS_API_URL": unchanged_url}, log_dir, cpus=server_cpus) as unchanged,
            ServerProcess(argv, {"NUMBERS_API_URL": full_url}, log_dir, cpus=server_cpus) as full,
        ):
            print("  total-service: conditional fetch against full fetch", file=sys.stderr, flush=True)
            for server in (unchanged, full):
                sequential(server.url + "/total", total, 1)  # the first fetch: a body for both
            results: dict[str, list[LoadResult]] = {"unchanged": [], "full": []}
            for _ in range(rounds):
                results["unchanged"].append(sequential(unchanged.url + "/total", total, 1))
                results["full"].append(sequential(full.url + "/total", total, 1))
        with urllib.request.urlopen(f"{backend.url}/stats", timeout=10) as answer:
            stats = json.load(answer)
    medians = {name: statistics.median(result.p50 for result in runs) for name, runs in results.items()}
    print(f"\n## Conditional fetch: {count} numbers from the reference HTTP backend, {rounds} rounds")
    print("\nOne request to each server in turn; the backend's bodies and 304s after the first fetch.\n")
    print("| fetch | /total median | bodies sent | 304 answers |\n|---|---:|---:|---:|")
    for name, key, client in (
        ("unchanged (304)", "unchanged", "conditional"),
        ("full (no ETag)", "full", "full"),
    ):
        counts = stats[client]
        print(
            f"| {name} | {medians[key] * 1000:.1f} ms | {counts['bodies'] - 1} | {counts['not_modified']} |"
        )
    print(f"\nratio: the 304 fetch over the full fetch: {medians['unchanged'] / medians['full']:.3f}")
    return [*results["unchanged"], *results["full"]]
