"""Compressed bodies: the 10M list gzipped and deflated, and a gzip bomb, against a bare transfer.

The compressed list's /total is timed against a bare transfer of its compressed bytes and
against /total of the same list uncompressed, in the same run; the bomb (2 MB that expands
to 2 GiB of spaces) must be refused with a 502 once NUMBERS_API_MAX_BYTES is crossed. The
probe's p99 says how long the loop was held meanwhile.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.config import Config
from bench.load import LoadResult, bare_transfer, sequential
from tests.probe import Probe, percentile
from tests.processes import ServerProcess, reference_backend

REQUESTS = 10
# The bomb's answer at the default limit.
BOMB_PROBLEM = json.dumps(
    {
        "type": "about:blank",
        "title": "Bad data from the numbers backend",
        "status": 502,
        "detail": "the numbers backend's body is larger than NUMBERS_API_MAX_BYTES "
        f"({Config().numbers_api_max_bytes} bytes)",
    }
).encode()


def compressed(log_dir: Path, smoke: bool, server_cpus: set[int], load_cpus: set[int]) -> list[LoadResult]:
    count = 1000 if smoke else 10_000_001
    requests = 2 if smoke else REQUESTS
    total = b'{"total":%d}' % (count * (count - 1) // 2)
    rows = []
    results = []
    with reference_backend(log_dir, count, cpus=load_cpus) as backend:
        plain_url = f"{backend.url}/numbers?etag=off"
        bodies = [
            (f"{count:,} numbers, gzip", f"{plain_url}&encoding=gzip", total, 200),
            (f"{count:,} numbers, deflate", f"{plain_url}&encoding=deflate", total, 200),
            (f"{count:,} numbers, identity", plain_url, total, 200),
            ("gzip bomb (2 GiB of spaces)", f"{backend.url}/faults/gzip-bomb", BOMB_PROBLEM, 502),
        ]
        for name, url, expected, status in bodies:
            bare_transfer(url, repeats=1)  # the backend compresses the body once, then keeps it
            # No breaker: every request fetches, the bomb's included.
            env = {"NUMBERS_API_URL": url, "NUMBERS_API_BREAKER_FAILURES": "0"}
            with ServerProcess([sys.executable, "-m", "app"], env, log_dir, cpus=server_cpus) as server:
                print(f"  total-service: {name}", file=sys.stderr, flush=True)
                sequential(server.url + "/total", expected, 1, status)
                with Probe(server.url + "/healthz", load_cpus) as probe:
                    result = sequential(server.url + "/total", expected, requests, status)
                result.probe = probe.latencies
            results.append(result)
            rows.append((name, bare_transfer(url), result))
    print(f"\n## Compressed bodies from the reference HTTP backend, {requests} requests each")
    print("\nbare: reading the (compressed) body and discarding it; x bare: the median /total over it;")
    print("x identity: over /total of the same list sent uncompressed, in this run\n")
    print("| body | bare | /total median | x bare | x identity | probe p99 | probe max | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    identity = rows[2][2].p50
    for name, bare, result in rows:
        cells = [
            name,
            f"{bare * 1000:.1f} ms",
            f"{result.p50 * 1000:.1f} ms",
            f"{result.p50 / bare:.1f}",
            f"{result.p50 / identity:.2f}",
            f"{percentile(result.probe, 0.99) * 1000:.1f} ms",
            f"{max(result.probe, default=float('nan')) * 1000:.1f} ms",
            str(result.errors + result.wrong_totals),
        ]
        print("| " + " | ".join(cells) + " |")
    return results
