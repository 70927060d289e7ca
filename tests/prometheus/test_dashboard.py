"""The Grafana dashboard of deploy/grafana/: the committed JSON is what its generator writes now,
it has what Grafana's import needs, and every query of every panel returns series from a real
Prometheus scraping two real instances (`make prometheus-check`).

The checks of the file need no Prometheus and run in `make test` too; the one against a real
Prometheus (Debian's package) is marked `prometheus`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import attr
import pytest
import yaml

from tests.processes import LOOPBACK, PROJECT, ServerProcess, reference_backend, service
from tests.prometheus.real_prometheus import SCRAPE_SECONDS, prometheus_scraping, query, value_of

GRAFANA = PROJECT / "deploy" / "grafana"
COMMITTED = GRAFANA / "dashboards" / "total-service.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Panel types Grafana draws without Angular, which Grafana 11 turned off and 12 removed.
PANEL_TYPES = {"row", "timeseries", "stat", "state-timeline"}
COLUMNS = 24
# What Grafana makes of $__rate_interval is at least four scrape intervals; a minute holds the
# whole test.
RATE_INTERVAL = "1m"
# Instance "fresh": a fetch of 0.5 s answered again at once for 2 s, then stale for a minute.
MAX_AGE = 2.0
FRESH = {
    "NUMBERS_API_COUNT": "1000",
    "NUMBERS_API_DELAY": "0.5",
    "TOTAL_MAX_AGE": str(MAX_AGE),
    "TOTAL_STALE_WHILE_REVALIDATE": "60",
}
# Instance "failing": its backend answers 503 (retried once), and two failed fetches open the
# breaker for the rest of the test.
FAILING = {
    "NUMBERS_API_RETRIES": "1",
    "NUMBERS_API_BREAKER_FAILURES": "2",
    "NUMBERS_API_BREAKER_SECONDS": "60",
}


@functools.cache
def generator() -> ModuleType:
    """deploy/grafana/dashboard.py, which is a script rather than a module of a package."""
    spec = importlib.util.spec_from_file_location("grafana_dashboard", GRAFANA / "dashboard.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found += [panel, *panel.get("panels", [])]
    return found


def test_committed_json_is_generated() -> None:
    """The JSON in the repository is exactly what the generator writes now."""
    assert generator().render() == COMMITTED.read_text(), "run: .venv/bin/python deploy/grafana/dashboard.py"


def test_grafanalib_model_valid() -> None:
    """Every object of the dashboard passes grafanalib's own validators."""
    board = generator().dashboard()
    attr.validate(board)
    for template in board.templating.list:
        attr.validate(template)
    for panel in board._iter_panels():
        attr.validate(panel)
        for target in panel.targets:
            attr.validate(target)


def test_grafana_import_fields() -> None:
    """The fields Grafana's import needs: title, uid, schema, variables, panels laid out, targets."""
    dashboard = committed()
    assert (dashboard["title"], dashboard["uid"], dashboard["id"]) == ("total-service", "total-service", None)
    assert dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    instance = variables["instance"]
    assert (instance["datasource"], instance["multi"], instance["includeAll"]) == (DATASOURCE, True, True)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert sorted(ids) == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("panel", panels(committed()), ids=lambda panel: panel["title"])
def test_panel_fields(panel: dict[str, Any]) -> None:
    """Each panel: a type Grafana draws without Angular, a place in the grid, targets with refIds."""
    assert panel["type"] in PANEL_TYPES
    place = panel["gridPos"]
    assert {key: type(value) for key, value in place.items()} == dict.fromkeys("hwxy", int)
    assert place["x"] + place["w"] <= COLUMNS
    if panel["type"] != "row":
        assert panel["datasource"] == DATASOURCE
        refs = [target["refId"] for target in panel["targets"]]
        assert refs
        assert refs == [chr(ord("A") + n) for n in range(len(refs))]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"])


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(committed()):
        place = panel["gridPos"]
        for x in range(place["x"], place["x"] + place["w"]):
            for y in range(place["y"], place["y"] + place["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


def get(url: str) -> int:
    """GET `url`: its status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ServerProcess]:
    with reference_backend(tmp_path, count=1000) as process:
        yield process


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[ServerProcess]:
    with service(FRESH, tmp_path) as process:
        yield process


@pytest.fixture
def failing(backend: ServerProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    with service({**FAILING, "NUMBERS_API_URL": f"{backend.url}/faults/status/503"}, tmp_path) as process:
        yield process


def drive(fresh: ServerProcess, failing: ServerProcess) -> None:
    """Requests that make every panel's series exist: a fetch started and joined, fresh and stale
    answers, failed fetches and retries, the breaker open, 5xx, a 404."""
    with ThreadPoolExecutor(4) as pool:  # one starts the fetch, three join it
        statuses = list(pool.map(get, [fresh.url + "/total"] * 4))
    statuses += [get(fresh.url + "/total") for _ in range(3)]  # fresh, within MAX_AGE
    time.sleep(MAX_AGE + 0.3)
    statuses += [get(fresh.url + "/total") for _ in range(3)]  # stale, while a refresh runs
    assert statuses == [200] * 10
    # Fetches fail (502, the backend's status named) until the breaker opens and answers 503.
    failed = [get(failing.url + "/total")]
    while failed[-1] != 503 and len(failed) < 20:
        failed.append(get(failing.url + "/total"))
    assert set(failed[:-1]) == {502}
    assert failed[-1] == 503
    for server in (fresh, failing):
        assert get(server.url + "/no-such-path") == 404


def samples(prometheus: str, expression: str) -> list[tuple[dict[str, str], float]]:
    """The instant vector `expression`: each series' labels and value."""
    found = []
    for sample in query(prometheus, expression):
        labels, value = sample["metric"], sample["value"]
        assert isinstance(labels, dict)
        assert isinstance(value, list)
        found.append((labels, float(value[1])))
    return found


def scraped_twice_since(prometheus: str, moment: float, instances: int) -> None:
    """Wait until Prometheus has scraped every instance twice after `moment` (a rate needs two samples)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        latest = [value for _, value in samples(prometheus, 'timestamp(up{job="total-service"})')]
        if len(latest) == instances and min(latest) > moment + SCRAPE_SECONDS + 0.2:
            return
        time.sleep(0.25)
    raise AssertionError(f"Prometheus did not scrape the {instances} instances twice within 30 s")


def substituted(expression: str, instances: Sequence[str]) -> str:
    """`expression` as Grafana sends it with every instance selected: $instance a regex of them
    all (backslashes doubled inside the PromQL string), $__rate_interval a fixed range."""
    everyone = "(" + "|".join(re.escape(instance) for instance in instances) + ")"
    result = expression.replace("$__rate_interval", RATE_INTERVAL).replace(
        "$instance", everyone.replace("\\", "\\\\")
    )
    assert "$" not in result, result
    return result


def resolved(variable: dict[str, Any], prometheus: str) -> set[str]:
    """The values Grafana would offer for `variable`: for a data source variable, the provisioned
    data sources of its type; for label_values(metric, label), what Prometheus's label API lists."""
    if variable["type"] == "datasource":
        provisioned = yaml.safe_load(
            (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
        )
        return {source["uid"] for source in provisioned["datasources"] if source["type"] == variable["query"]}
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
    assert match is not None, variable["query"]
    metric, label = match.groups()
    url = f"{prometheus}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric})
    with urllib.request.urlopen(url, timeout=5) as response:
        return set(json.load(response)["data"])


@pytest.mark.prometheus
def test_every_query_has_series(fresh: ServerProcess, failing: ServerProcess, tmp_path: Path) -> None:
    """Against two instances under a little load, each variable has values (`instance`: both
    instances), and every target of every panel (and every selector in it) returns series with
    the labels its legend names."""
    dashboard = committed()
    assert generator().render() == COMMITTED.read_text()
    instances = [f"{LOOPBACK}:{server.port}" for server in (fresh, failing)]
    with prometheus_scraping(instances, tmp_path) as prometheus:
        value_of(prometheus, 'count(up{job="total-service"} == 1)', expected=2)
        drive(fresh, failing)
        scraped_twice_since(prometheus, time.time(), len(instances))
        assert value_of(prometheus, "sum(numbers_backend_breaker_open)") == 1

        for variable in dashboard["templating"]["list"]:
            assert resolved(variable, prometheus), variable["name"]
        (instance,) = [
            variable for variable in dashboard["templating"]["list"] if variable["name"] == "instance"
        ]
        assert resolved(instance, prometheus) == set(instances)

        seen: set[str] = set()
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                where = f"{panel['title']} {target['refId']}"
                expression = substituted(target["expr"], instances)
                result = samples(prometheus, expression)
                assert result, f"{where}: no series for {expression}"
                for selector in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}", expression):
                    assert query(prometheus, selector), f"{where}: no series for {selector}"
                legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target["legendFormat"]))
                for labels, _ in result:
                    assert legend <= labels.keys(), f"{where}: {sorted(legend)} not all in {labels}"
                    seen.add(labels.get("instance", ""))
                assert any(math.isfinite(value) for _, value in result), f"{where}: {result}"
        assert seen - {""} == set(instances)
