"""The benchmark's charts: each function writes a PNG with something drawn in it."""

from __future__ import annotations

from pathlib import Path

from bench import charts
from bench.load import LoadResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(p50: float, probe: list[float]) -> LoadResult:
    return LoadResult(100, 0, 0, 1.0, p50, p50 * 2, p50 * 3, p50 * 4, probe=probe)


def is_png(path: Path) -> bool:
    # A blank 1200x450 chart is a few KB; one with bars, lines, labels and the caption more.
    return path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 10_000


def test_latency_and_probe(tmp_path: Path) -> None:
    destination = charts.Destination(tmp_path / "charts", "python -m bench on 2 cores")
    drawn = charts.latency_and_probe(
        destination,
        "latency.png",
        "500 clients",
        ["service", "naive"],
        [result(1.01, [0.001, 0.002] * 50), result(5.0, [0.3] * 20)],
    )
    assert drawn == tmp_path / "charts" / "latency.png"
    assert is_png(drawn)


def test_throughput_by_clients(tmp_path: Path) -> None:
    destination = charts.Destination(tmp_path, "python -m bench on 2 cores")
    drawn = charts.throughput_by_clients(
        destination,
        "throughput.png",
        "requests/s",
        [1, 50, 500],
        {"service": [1, 49, 480], "naive": [1, 10, 12]},
    )
    assert is_png(drawn)


def test_fetch_against_bare(tmp_path: Path) -> None:
    destination = charts.Destination(tmp_path, "python -m bench on 2 cores")
    drawn = charts.fetch_against_bare(
        destination, "fetch.png", [("own pieces", 0.07, 0.15), ("cut", 0.04, 0.16)]
    )
    assert is_png(drawn)
