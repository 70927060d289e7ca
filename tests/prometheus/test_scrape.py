"""A real Prometheus (Debian's package) scrapes a real `python -m app`: `make prometheus-check`.

Marked `prometheus`, which pyproject's addopts deselect: `make test` needs no Prometheus.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import LOOPBACK, PROJECT, ServerProcess, service
from tests.prometheus.real_prometheus import prometheus_scraping, query, value_of

pytestmark = pytest.mark.prometheus

REQUESTS = 25


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with service({"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0"}, tmp_path) as process:
        yield process


@pytest.fixture
def prometheus(server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping `server` every second; its HTTP API's base URL."""
    with prometheus_scraping([f"{LOOPBACK}:{server.port}"], tmp_path) as url:
        yield url


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
