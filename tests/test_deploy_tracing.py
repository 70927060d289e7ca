"""The Kubernetes Deployment and the Cloud Foundry manifest show the tracing variables, valid
settings with tracing off until an operator turns it on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from app.config import Config
from tests.processes import PROJECT


def kubernetes_env() -> dict[str, str]:
    deployment: dict[str, Any] = yaml.safe_load(
        (PROJECT / "deploy" / "kubernetes" / "deployment.yaml").read_text()
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {variable["name"]: variable["value"] for variable in container["env"]}


def manifest_env() -> dict[str, str]:
    (application,) = yaml.safe_load((PROJECT / "manifest.yml").read_text())["applications"]
    return {name: str(value) for name, value in application["env"].items()}


@pytest.mark.parametrize(
    "environment", [kubernetes_env(), manifest_env()], ids=["kubernetes", "cloud-foundry"]
)
def test_tracing_shown_and_off_until_enabled(environment: dict[str, str]) -> None:
    assert {"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER"} <= set(environment)
    assert Config.from_env(environment).otel_traces_url is None
    enabled = Config.from_env({**environment, "OTEL_SDK_DISABLED": "false"})
    assert enabled.otel_traces_url is not None
    assert enabled.otel_traces_url.endswith(":4318/v1/traces")
    assert (enabled.otel_traces_sampler, enabled.otel_traces_sampler_arg) == ("parentbased_traceidratio", 0.1)
