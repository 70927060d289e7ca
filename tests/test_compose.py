"""compose.yaml, deploy/haproxy/haproxy.cfg and deploy/prometheus/prometheus.yml name the
same instances, an instance drains for longer than HAProxy takes to notice, and Grafana, under
its profile, loads the dashboard of deploy/grafana/ (`make compose-test` brings the stack up
without Grafana; `make lint` validates it against the Compose schema)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import yaml

from app.config import Config
from tests.processes import PROJECT

INSTANCES = ["total-service-1", "total-service-2", "total-service-3"]
GRAFANA = PROJECT / "deploy" / "grafana"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / "compose.yaml").read_text())
    return loaded


def interpolated(environment: dict[str, str]) -> dict[str, str]:
    """An instance's environment as compose gives it with nothing set: `${NAME:-default}` is its default."""
    return {name: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value) for name, value in environment.items()}


def haproxy_check_seconds() -> float:
    """How long HAProxy takes at most to take a failing instance out: interval x fall count."""
    config = (PROJECT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    match = re.search(r"^\s*default-server .*\binter (\d+)s fall (\d+)\b", config, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * int(match.group(2))


def test_drain_outlasts_haproxy_check() -> None:
    """Every instance drains for longer than HAProxy takes to notice."""
    services = compose()["services"]
    for name in INSTANCES:
        config = Config.from_env(interpolated(services[name]["environment"]))
        assert config.drain_seconds > haproxy_check_seconds()


def test_three_instances_named() -> None:
    """HAProxy and Prometheus name the three instances."""
    services = compose()["services"]
    assert [name for name in services if name.startswith("total-service-")] == INSTANCES
    environment = services["haproxy"]["environment"]
    assert [environment[f"INSTANCE_{n}"] for n in (1, 2, 3)] == [f"{name}:5000" for name in INSTANCES]
    prometheus = yaml.safe_load((PROJECT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "total-service"]
    assert job["static_configs"][0]["targets"] == [f"{name}:5000" for name in INSTANCES]


def test_ports_on_loopback_only() -> None:
    """Published ports are on loopback only."""
    for service in compose()["services"].values():
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", []))


def test_grafana_and_jaeger_only_with_their_profiles() -> None:
    """A plain `up` (and `make compose-test`, where their images cannot be pulled) leaves Grafana
    and Jaeger out."""
    services = compose()["services"]
    profiled = {name: service["profiles"] for name, service in services.items() if "profiles" in service}
    assert profiled == {"grafana": ["grafana"], "jaeger": ["tracing"]}


def test_traces_off_unless_a_collector_is_named() -> None:
    """The instances trace nothing by default, and send to Jaeger's OTLP port when told to."""
    environment = compose()["services"][INSTANCES[0]]["environment"]
    assert Config.from_env(interpolated(environment)).otel_traces_url is None
    named = {**environment, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}
    assert Config.from_env(named).otel_traces_url == "http://jaeger:4318/v1/traces"
    assert compose()["services"]["jaeger"]["environment"]["JAEGER_LISTEN_HOST"] == "0.0.0.0"


def test_grafana_image_pinned() -> None:
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", compose()["services"]["grafana"]["image"])


def test_grafana_loads_the_dashboard() -> None:
    """The provisioning files and the dashboards are mounted where Grafana and its provider look,
    and the home dashboard is the one in deploy/grafana/dashboards/."""
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.removesuffix(":ro").split(":") for volume in grafana["volumes"])
    assert all((PROJECT / source).is_dir() for source in mounts)
    for kind in ("datasources", "dashboards"):
        assert mounts[f"./deploy/grafana/provisioning/{kind}"] == f"/etc/grafana/provisioning/{kind}"
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "total-service.yaml").read_text()
    )
    (provider,) = provisioning["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    home = PurePosixPath(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (GRAFANA / "dashboards" / home.relative_to(provider["options"]["path"])).is_file()


def test_grafana_reads_the_stack_prometheus() -> None:
    """Grafana's default data source is the stack's Prometheus, and knows its scrape interval."""
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = provisioning["datasources"]
    assert (source["type"], source["isDefault"], source["url"]) == (
        "prometheus",
        True,
        "http://prometheus:9090",
    )
    assert any(port.endswith(":9090") for port in compose()["services"]["prometheus"]["ports"])
    prometheus = yaml.safe_load((PROJECT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_reference_backend_mounted() -> None:
    """The image leaves the tools out: the backend's container mounts the package of the module it
    runs, read-only, into the image's working directory, where `python -m` finds it."""
    services = compose()["services"]
    backend = services["numbers-backend"]
    assert backend["image"] == services["total-service-1"]["image"]
    module = backend["command"][backend["command"].index("-m") + 1]
    package = module.split(".")[0]
    workdir = re.findall(r"^WORKDIR (\S+)$", (PROJECT / "Dockerfile").read_text(), re.MULTILINE)[-1]
    assert f"./{package}:{workdir}/{package}:ro" in backend["volumes"]
    assert (PROJECT / f"{module.replace('.', '/')}.py").is_file()
