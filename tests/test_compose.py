"""compose.yaml, deploy/haproxy/haproxy.cfg and deploy/prometheus/prometheus.yml name the
same instances, and an instance drains for longer than HAProxy takes to notice
(`make compose-test` brings the stack up; `make lint` validates it against the Compose schema)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from app.config import Config
from bench.processes import PROJECT

INSTANCES = ["total-service-1", "total-service-2", "total-service-3"]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / "compose.yaml").read_text())
    return loaded


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
        config = Config.from_env(services[name]["environment"])
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
