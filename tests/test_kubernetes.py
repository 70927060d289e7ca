"""deploy/kubernetes: settings that must fit together, each read as Kubernetes and the service
would read them (`make lint` validates the manifests against Kubernetes' own schemas)."""

from __future__ import annotations

from typing import Any

import yaml

from app.config import Config
from tests.processes import PROJECT

MANIFESTS = PROJECT / "deploy" / "kubernetes"


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return loaded


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = manifest("deployment.yaml")["spec"]["template"]["spec"]
    return spec


def service_config() -> Config:
    (container,) = pod_spec()["containers"]
    return Config.from_env({variable["name"]: variable["value"] for variable in container["env"]})


def test_drain_ends_before_kill() -> None:
    """The drain and the grace period end before Kubernetes kills the pod."""
    config = service_config()
    assert config.drain_seconds > 0
    assert config.drain_seconds + config.graceful_timeout < pod_spec()["terminationGracePeriodSeconds"]


def test_draining_pod_fails_readiness() -> None:
    """A draining pod fails its readiness probe within the drain."""
    (container,) = pod_spec()["containers"]
    readiness = container["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < service_config().drain_seconds
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_three_locked_down_instances() -> None:
    """Three locked-down instances, within 256 MiB."""
    deployment = manifest("deployment.yaml")
    assert deployment["spec"]["replicas"] == 3
    (container,) = pod_spec()["containers"]
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert pod_spec()["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_one_worker_per_pod() -> None:
    """Replicas scale a Deployment, not workers: each pod is one process."""
    (container,) = pod_spec()["containers"]
    assert {"name": "WORKERS", "value": "1"} in container["env"]


def test_prometheus_finds_metrics() -> None:
    """Prometheus is told where the metrics are."""
    annotations = manifest("deployment.yaml")["spec"]["template"]["metadata"]["annotations"]
    (container,) = pod_spec()["containers"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"] == Config().port


def test_selectors_match_deployment() -> None:
    """The service, budget and autoscaler select the deployment."""
    labels = manifest("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert manifest("service.yaml")["spec"]["selector"] == labels
    assert manifest("pod-disruption-budget.yaml")["spec"]["selector"]["matchLabels"] == labels
    target = manifest("horizontal-pod-autoscaler.yaml")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", manifest("deployment.yaml")["metadata"]["name"])
    assert manifest("horizontal-pod-autoscaler.yaml")["spec"]["minReplicas"] == 3
