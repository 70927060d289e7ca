"""The benchmark as pictures: PNG charts beside the figures, drawn with matplotlib (a
bench-only dependency). `python -m bench --record FILE` draws them into FILE's directory,
under charts/, each with the command and the machine it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; the imports below come after it

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.load import LoadResult
from tests.probe import INTERVAL

PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


@dataclass(frozen=True)
class Destination:
    directory: Path
    caption: str  # the command and the machine, under every chart


def _save(figure: Figure, destination: Destination, name: str) -> Path:
    figure.text(0.01, 0.01, destination.caption, fontsize=7, color="0.4")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    destination.directory.mkdir(parents=True, exist_ok=True)
    path = destination.directory / name
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def latency_and_probe(
    destination: Destination, name: str, title: str, targets: list[str], results: list[LoadResult]
) -> Path:
    """Each target's latency percentiles under the same load, and its probe's latency over time."""
    figure, (bars, probes) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(targets)
    for index, (target, result) in enumerate(zip(targets, results, strict=True)):
        values = [result.p50 * 1000, result.p90 * 1000, result.p99 * 1000]
        positions = [slot + index * width for slot in range(len(PERCENTILES))]
        bars.bar(positions, values, width, label=target)
        # The probe asks every INTERVAL, or as soon as a slower answer comes.
        elapsed, times = 0.0, []
        for latency in result.probe:
            times.append(elapsed)
            elapsed += max(latency, INTERVAL)
        probes.plot(times, [latency * 1000 for latency in result.probe], label=target, linewidth=0.8)
    bars.set_xticks([slot + width * (len(targets) - 1) / 2 for slot in range(len(PERCENTILES))])
    bars.set_xticklabels([label for label, _ in PERCENTILES])
    bars.set_ylabel("latency of /total (ms)")
    bars.set_title(title, fontsize=10)
    bars.legend()
    probes.set_xlabel("seconds into the run")
    probes.set_yscale("log")  # milliseconds beside seconds
    probes.set_ylabel("/healthz probe latency (ms)")
    probes.set_title("the probe, every 10 ms, under the same load", fontsize=10)
    probes.legend()
    return _save(figure, destination, name)


def throughput_by_clients(
    destination: Destination, name: str, title: str, clients: list[int], by_target: dict[str, list[float]]
) -> Path:
    """Requests per second against the number of clients, one line per target."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for target, throughputs in by_target.items():
        axes.plot(clients, throughputs, marker="o", label=target)
    axes.set_xscale("log")
    axes.set_xticks(clients)
    axes.set_xticklabels([str(count) for count in clients])
    axes.set_xlabel("clients")
    axes.set_ylabel("requests/s")
    axes.set_title(title, fontsize=10)
    axes.legend()
    return _save(figure, destination, name)


def fetch_against_bare(destination: Destination, name: str, rows: list[tuple[str, float, float]]) -> Path:
    """Each way of sending the body: its floor (the bare read plus simdjson's parse) beside /total."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    labels = [label for label, _, _ in rows]
    positions = range(len(rows))
    axes.bar(
        [p - 0.2 for p in positions],
        [floor * 1000 for _, floor, _ in rows],
        0.4,
        label="floor: aiohttp's bare read + simdjson's parse",
    )
    axes.bar([p + 0.2 for p in positions], [total * 1000 for _, _, total in rows], 0.4, label="/total")
    axes.set_xticks(list(positions))
    axes.set_xticklabels(labels)
    axes.set_ylabel("ms (median)")
    axes.set_title("The 10M list over HTTP: /total against reading and parsing the same body", fontsize=10)
    axes.legend()
    return _save(figure, destination, name)
