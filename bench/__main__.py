"""`python -m bench`: total-service against the naive baseline, side by side.

Its parts (`--part` picks some; docs/performance.md says what each measures): the simulated
backend (the default configuration); the reference HTTP backend serving the same numbers as
79 MB of JSON with no delay; bodies of other kinds (floats, decimals, exponents, wide
integers, whitespace), each timed against the naive baseline and against a bare transfer of
the same body; bodies of hazards, the parser and sum alone in this process, against plain
integers; the soak, 100,000 requests on each backend with the server's memory, descriptors
and tasks compared at rest before and after; what telemetry costs, on against
off; what tracing costs, off against no OpenTelemetry at all and on at 100% and 10%; what the
freshness windows (TOTAL_MAX_AGE) give against /healthz; compressed bodies, the gzipped list
and a gzip bomb; a conditional fetch (304) against a full one; the request path's own work
against the same routes bare on Quart and Hypercorn, and uvloop; WORKERS=2 against 1; and the
10M fetch against a bare read of its body plus simdjson's parse of it. Each server runs as
users start it, alone on CPU 0 (both CPUs for WORKERS=2); wrk, the probe and the reference
backend run on CPU 1; all traffic stays on 127.0.0.1. `--smoke` runs briefly on small lists,
for CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from bench import charts
from bench.compressed import compressed
from bench.conditional import conditional
from bench.fetch_floor import fetch_floor
from bench.freshness import freshness
from bench.hazards import hazards
from bench.load import LoadResult, bare_transfer, concurrent, sequential
from bench.memory import PeakRss
from bench.request_cost import request_cost
from bench.soak import soak
from bench.telemetry_cost import telemetry_cost
from bench.tracing_cost import tracing_cost
from bench.workers import workers
from tests.probe import Probe, percentile
from tests.processes import ServerProcess, reference_backend
from tools.reference_backend import KINDS

SERVER_CPUS = {0}
LOAD_CPUS = {1}
DEFAULT_COUNT = 10_000_001
# Items in each body of the third part: 5 to 25 MB of JSON.
BODY_COUNT = 750_000
# The reference backend's list without an ETag: every fetch reads the whole body, as the
# parts that time fetching mean to (bench/conditional.py times the fetch that reads none).
FULL_FETCH = "/numbers?etag=off"
# Enough requests for the probe's p99 to be more than its maximum: 10 ms apart, over 2 s or more.
BODY_REQUESTS = 20


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    requests: int = 0  # one client sending this many, one after the other
    seconds: float = 0.0  # `clients` looping for this long
    warmup: int = 0  # requests sent, and not counted, before the measured ones

    def run(self, url: str, expected_body: bytes) -> LoadResult:
        if self.requests:
            return sequential(url, expected_body, self.requests)
        return concurrent(url, expected_body, self.clients, self.seconds)


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    env: dict[str, str]


def simulated_scenarios(smoke: bool) -> list[Scenario]:
    if smoke:
        return [Scenario("1 client, 3 requests", 1, requests=3), Scenario("20 clients, 2 s", 20, seconds=2)]
    return [
        Scenario("1 client, 10 sequential requests", 1, requests=10),
        Scenario("50 clients looping for 15 s", 50, seconds=15),
        Scenario("500 clients looping for 15 s", 500, seconds=15),
    ]


def http_scenarios(smoke: bool) -> list[Scenario]:
    return [Scenario("HTTP backend: 1 client, 10 sequential requests", 1, requests=3 if smoke else 10)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


ROWS: list[tuple[str, Callable[[LoadResult], str]]] = [
    ("requests", lambda r: str(r.requests)),
    ("errors", lambda r: str(r.errors)),
    ("wrong totals", lambda r: str(r.wrong_totals)),
    ("throughput", lambda r: f"{r.throughput:.1f} req/s"),
    ("latency p50", lambda r: ms(r.p50)),
    ("latency p90", lambda r: ms(r.p90)),
    ("latency p99", lambda r: ms(r.p99)),
    ("latency max", lambda r: ms(r.max)),
    ("probe p50", lambda r: ms(percentile(r.probe, 0.50))),
    ("probe p99", lambda r: ms(percentile(r.probe, 0.99))),
    ("probe max", lambda r: ms(max(r.probe, default=float("nan")))),
]


def measure(
    target: Target, runs: list[Scenario], expected_body: bytes, log_dir: Path
) -> tuple[list[LoadResult], float]:
    """Every scenario against one fresh process of `target`; also its peak RSS in MiB."""
    with ServerProcess(target.argv, target.env, log_dir, cpus=SERVER_CPUS) as server:
        rss = PeakRss(server.process.pid)
        results = []
        for scenario in runs:
            print(f"  {target.name}: {scenario.name}", file=sys.stderr, flush=True)
            if scenario.warmup:
                sequential(server.url + "/total", expected_body, scenario.warmup)
            with Probe(server.url + "/healthz", LOAD_CPUS) as probe:
                result = scenario.run(server.url + "/total", expected_body)
            result.probe = probe.latencies
            results.append(result)
        return results, rss.stop()


def compare(
    title: str,
    targets: list[Target],
    runs: list[Scenario],
    expected_body: bytes,
    log_dir: Path,
    limit: tuple[str, float],
) -> list[list[LoadResult]]:
    """Measure every target and print the results side by side; each target's results.

    `limit`: what bounds a request's latency whatever the server does (the backend's delay,
    or a bare transfer of its body), named and in seconds: the ratios to it, and to the
    other targets, carry to a machine of another speed.
    """
    results, rss = [], []
    for target in targets:
        target_results, target_rss = measure(target, runs, expected_body, log_dir)
        results.append(target_results)
        rss.append(target_rss)
    header = "| metric | " + " | ".join(t.name for t in targets) + " |\n|---|" + "---|" * len(targets)
    print(f"\n## {title}")
    for index, scenario in enumerate(runs):
        print(f"\n{scenario.name}\n\n{header}")
        for label, show in ROWS:
            print(f"| {label} | " + " | ".join(show(per_target[index]) for per_target in results) + " |")
    print(f"\nwhole run\n\n{header}")
    print("| peak RSS of the server process tree | " + " | ".join(f"{m:.1f} MiB" for m in rss) + " |")
    print_ratios([t.name for t in targets], runs, results, limit)
    return results


def print_ratios(
    names: list[str], runs: list[Scenario], results: list[list[LoadResult]], limit: tuple[str, float]
) -> None:
    """The first target's figures over the limit's and over each other target's."""
    limit_name, seconds = limit
    print(f"\nratios: {names[0]} over the limit ({limit_name}, {ms(seconds)}) and over the others")
    print("(the throughput's limit: clients / limit requests/s)\n")
    columns = ["scenario", "p50 / limit", "throughput / limit"]
    for name in names[1:]:
        columns += [f"p50 / {name}", f"throughput / {name}"]
    print("| " + " | ".join(columns) + " |\n|---|" + "---:|" * (len(columns) - 1))
    for index, scenario in enumerate(runs):
        ours = results[0][index]
        cells = [f"{ours.p50 / seconds:.3f}", f"{ours.throughput * seconds / scenario.clients:.3f}"]
        for other in results[1:]:
            theirs = other[index]
            if theirs.requests:
                cells += [f"{ours.p50 / theirs.p50:.2f}", f"{ours.throughput / theirs.throughput:.1f}"]
            else:  # it answered nothing in the run: no ratio to it
                cells += ["none answered"] * 2
        print(f"| {scenario.name} | " + " | ".join(cells) + " |")


def targets(env: dict[str, str], smoke: bool) -> list[Target]:
    service = [Target("total-service", [sys.executable, "-m", "app"], env)]
    if smoke:
        return service
    return [*service, Target("naive", [sys.executable, "-m", "bench.naive_service"], env)]


def expected_total(kind: str, count: int) -> bytes:
    """The body /total must answer for `count` items of `kind`: their exact sum, as written."""
    sys.set_int_max_str_digits(0)  # the reference is Python's own int, at any width, however slow
    texts = [KINDS[kind](n) for n in range(count)]
    if any(c in text for text in texts for c in ".eE"):
        total: int | float = float(sum((Fraction(Decimal(text)) for text in texts), Fraction(0)))
    else:
        total = sum(map(int, texts))
    return json.dumps({"total": total}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class BodyRun:
    """One kind of body: its size, the bare transfer's time and each target's result."""

    kind: str
    megabytes: float
    bare: float
    results: list[LoadResult]


def bodies(log_dir: Path, smoke: bool) -> list[LoadResult]:
    """Each kind of body from the reference backend, for every target; the service's results."""
    count = 2000 if smoke else BODY_COUNT
    requests = 2 if smoke else BODY_REQUESTS
    names = [target.name for target in targets({}, smoke)]
    runs = []
    with reference_backend(log_dir, count, cpus=LOAD_CPUS) as backend:
        for kind in KINDS:
            url = f"{backend.url}/numbers?kind={kind}&count={count}&etag=off"
            bare_transfer(url, repeats=1)  # the backend renders the body once, then keeps it
            scenario = Scenario(kind, 1, requests=requests, warmup=1)
            expected = expected_total(kind, count)
            results = [
                measure(target, [scenario], expected, log_dir)[0][0]
                for target in targets({"NUMBERS_API_URL": url}, smoke)
            ]
            megabytes = sum(len(KINDS[kind](n)) + 1 for n in range(count)) / 1e6
            runs.append(BodyRun(kind, megabytes, bare_transfer(url), results))
    print(f"\n## Bodies of {count} items from the reference HTTP backend, {requests} requests each")
    print("\nnumbers/s: items over the median /total; bare: reading the body and discarding it;")
    print("x bare" + "".join(f", x {name}" for name in names[1:]) + f": {names[0]}'s median over theirs")
    columns = ["body", "MB", "bare"]
    for name in names:
        columns += [f"{name} median", f"{name} numbers/s", f"{name} probe p99", f"{name} wrong"]
    columns += ["x bare"] + [f"x {name}" for name in names[1:]]
    print("\n| " + " | ".join(columns) + " |\n|---|" + "---:|" * (len(columns) - 1))
    for run in runs:
        cells = [run.kind, f"{run.megabytes:.1f}", ms(run.bare)]
        for result in run.results:
            cells += [
                ms(result.p50),
                f"{count / result.p50 / 1e6:.2f}M",
                ms(percentile(result.probe, 0.99)),
                str(result.wrong_totals + result.errors),
            ]
        service = run.results[0].p50
        cells += [f"{service / run.bare:.1f}"] + [f"{service / other.p50:.2f}" for other in run.results[1:]]
        print("| " + " | ".join(cells) + " |")
    return [run.results[0] for run in runs]


def simulated(log_dir: Path, smoke: bool, destination: charts.Destination | None) -> list[LoadResult]:
    """The default configuration: the simulated backend, its numbers after its delay."""
    count = 1000 if smoke else DEFAULT_COUNT
    delay = "0.1" if smoke else "1.0"
    runs = simulated_scenarios(smoke)
    compared = targets({"NUMBERS_API_COUNT": str(count), "NUMBERS_API_DELAY": delay}, smoke)
    results = compare(
        f"Simulated backend: {count} numbers after {delay} s",
        compared,
        runs,
        b'{"total":%d}' % (count * (count - 1) // 2),
        log_dir,
        limit=("the backend's delay", float(delay)),
    )
    if destination is not None:
        names = [target.name for target in compared]
        most = runs[-1]
        charts.latency_and_probe(
            destination,
            "simulated-latency.png",
            f"/total, simulated backend ({delay} s), {most.name}",
            names,
            [per_target[-1] for per_target in results],
        )
        charts.throughput_by_clients(
            destination,
            "simulated-throughput.png",
            f"/total, simulated backend ({delay} s): requests/s against clients",
            [scenario.clients for scenario in runs],
            {
                name: [result.throughput for result in per_target]
                for name, per_target in zip(names, results, strict=True)
            },
        )
    return results[0]


def http(log_dir: Path, smoke: bool) -> list[LoadResult]:
    """The same numbers as JSON from the reference HTTP backend, with no delay."""
    count = 1000 if smoke else DEFAULT_COUNT
    with reference_backend(log_dir, count, cpus=LOAD_CPUS) as backend:
        return compare(
            f"Reference HTTP backend: {count} numbers as JSON, no delay",
            targets({"NUMBERS_API_URL": backend.url + FULL_FETCH}, smoke),
            http_scenarios(smoke),
            b'{"total":%d}' % (count * (count - 1) // 2),
            log_dir,
            limit=("a bare transfer of the body", bare_transfer(backend.url + FULL_FETCH)),
        )[0]


# Each part: from the log directory, whether a smoke run, and where its charts go (if
# anywhere), the service's results (their errors and wrong totals fail the run).
Part = Callable[[Path, bool, "charts.Destination | None"], list[LoadResult]]
PARTS: dict[str, Part] = {
    "simulated": simulated,
    "http": lambda log_dir, smoke, _: http(log_dir, smoke),
    "bodies": lambda log_dir, smoke, _: bodies(log_dir, smoke),
    "hazards": lambda _, smoke, __: hazards(smoke),
    "soak": lambda log_dir, smoke, _: soak(log_dir, smoke, SERVER_CPUS, LOAD_CPUS),
    "telemetry": lambda log_dir, smoke, _: telemetry_cost(log_dir, smoke, SERVER_CPUS, LOAD_CPUS),
    "tracing": lambda log_dir, smoke, _: tracing_cost(log_dir, smoke, SERVER_CPUS, LOAD_CPUS),
    "freshness": lambda log_dir, smoke, _: freshness(log_dir, smoke, SERVER_CPUS),
    "compressed": lambda log_dir, smoke, _: compressed(log_dir, smoke, SERVER_CPUS, LOAD_CPUS),
    "conditional": lambda log_dir, smoke, _: conditional(log_dir, smoke, SERVER_CPUS, LOAD_CPUS),
    "request_cost": lambda log_dir, smoke, _: request_cost(log_dir, smoke, SERVER_CPUS),
    "workers": lambda log_dir, smoke, _: workers(log_dir, smoke),
    "fetch_floor": lambda log_dir, smoke, destination: fetch_floor(
        log_dir, smoke, SERVER_CPUS, LOAD_CPUS, destination
    ),
}


class Tee(io.TextIOBase):
    """Writes to each of `streams`."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)


def machine() -> str:
    """The machine the figures come from, as /proc/cpuinfo and the interpreter tell it."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    model = models[0] if models else platform.processor() or "an unnamed CPU"
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds on small lists")
    parser.add_argument(
        "--part", action="append", choices=PARTS, help="run only this part (repeatable; default: all)"
    )
    parser.add_argument("--record", type=Path, help="also write the figures to this Markdown file")
    parser.add_argument("--charts", type=Path, help="draw PNG charts into this directory")
    args = parser.parse_args()
    os.sched_setaffinity(0, LOAD_CPUS)
    command = (
        "python -m bench" + "".join(f" --part {part}" for part in args.part or ()) + " --smoke" * args.smoke
    )
    destination = charts.Destination(args.charts, f"{command} on {machine()}") if args.charts else None
    with contextlib.ExitStack() as stack:
        if args.record:
            record = stack.enter_context(args.record.open("w"))
            record.write(f"# Benchmark figures\n\nWritten by {command} on {machine()}.\n")
            stack.enter_context(contextlib.redirect_stdout(Tee(sys.stdout, record)))
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))
        failed = []
        for part in args.part or PARTS:
            results = PARTS[part](Path(log_dir), args.smoke, destination)
            errors = sum(result.errors for result in results)
            wrong = sum(result.wrong_totals for result in results)
            if errors or wrong:
                failed.append(f"{part}: {errors} errors, {wrong} wrong totals")
    for line in failed:
        print(f"bench FAILED in {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
