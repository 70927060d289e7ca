"""A real Prometheus (Debian's package) scrapes a real `python -m app`: `make prometheus-check`.

Marked `prometheus`, which pyproject's addopts deselect: `make test` needs no Prometheus.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import LOOPBACK, PROJECT, ServerProcess, free_port, service

pytestmark = pytest.mark.prometheus

REQUESTS = 25


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with service({"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0"}, tmp_path) as process:
        yield process


@pytest.fixture
def prometheus(server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping `server` every second; its HTTP API's base URL."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: total-service, static_configs: [{{targets: ['{LOOPBACK}:{server.port}']}}]}}\n"
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


def test_prometheus_sees_requests(server: ServerProcess, prometheus: str) -> None:
    """Prometheus scrapes the service and sees its requests."""
    for _ in range(REQUESTS):
        with urllib.request.urlopen(server.url + "/total", timeout=10) as response:
            assert response.status == 200
    assert value_of(prometheus, 'up{job="total-service"}', expected=1) == 1
    requests = 'sum(http_requests_total{job="total-service",route="/total",status="200"})'
    assert value_of(prometheus, requests, expected=REQUESTS) == REQUESTS
    fetches = 'sum(numbers_backend_fetches_total{job="total-service",outcome="ok"})'
    assert value_of(prometheus, fetches) == REQUESTS  # one request at a time: a fetch each
    assert value_of(prometheus, 'process_open_fds{job="total-service"}') > 0


def test_documented_queries_run(server: ServerProcess, prometheus: str) -> None:
    """The queries docs/operations.md gives run on series the service exports."""
    operations = (PROJECT / "docs" / "operations.md").read_text()
    block = operations.split("```promql\n", 1)[1].split("```", 1)[0]
    queries = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(queries) == 3
    with urllib.request.urlopen(server.url + "/total", timeout=10):
        pass
    value_of(prometheus, 'up{job="total-service"}', expected=1)
    for expression in queries:
        query(prometheus, expression)  # an invalid expression is an HTTP error
        for name in set(re.findall(r"([a-z_]+)\{", expression)):
            assert value_of(prometheus, f"count({name})") > 0, name


def test_promtool_accepts_exposition(server: ServerProcess) -> None:
    """promtool finds nothing to complain about in the exposition."""
    with urllib.request.urlopen(server.url + "/total", timeout=10):
        pass
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        exposition = response.read()
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
