"""A real Prometheus (Debian's package) as the tests start it, and its query API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.processes import LOOPBACK, free_port

SCRAPE_SECONDS = 1


@contextmanager
def prometheus_scraping(targets: Sequence[str], tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping `targets` (host:port) every SCRAPE_SECONDS; its HTTP API's base URL."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_SECONDS}s}}\n"
        "scrape_configs:\n"
        f"  - {{job_name: total-service, static_configs: [{{targets: {json.dumps(list(targets))}}}]}}\n"
    )
    port = free_port()
    binary = shutil.which("prometheus")
    assert binary is not None, "make prometheus-check installs Prometheus"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        process.terminate()
        process.wait(30)


def query(prometheus: str, expression: str) -> list[dict[str, object]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    result: list[dict[str, object]] = answer["data"]["result"]
    return result


def value_of(prometheus: str, expression: str, timeout: float = 60.0, expected: float | None = None) -> float:
    """The expression's single value once Prometheus has it (and it equals `expected`, if given)."""
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        try:
            result = query(prometheus, expression)
        except OSError:  # not listening yet
            result = []
        if result:
            sample = result[0]["value"]
            assert isinstance(sample, list)
            last = float(sample[1])
            if expected is None or last == expected:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{expression}: {last} after {timeout} s, expected {expected}")
