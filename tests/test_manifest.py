"""manifest.yml names only routes and variables the app really has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from app.config import Config, ConfigError
from app.web.factory import create_app
from tests.processes import PROJECT


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT / "manifest.yml").read_text())
    (application,) = document["applications"]
    return dict(application)


def test_runs_image_in_256m(manifest: dict[str, Any]) -> None:
    """It runs the image in 256M with an HTTP health check."""
    assert manifest["docker"]["image"]
    assert manifest["memory"] == "256M"
    assert manifest["instances"] >= 1
    assert manifest["timeout"] > 0
    assert manifest["health-check-type"] == "http"


def test_deploy_passes_variables(manifest: dict[str, Any]) -> None:
    """Image, registry user and route are variables the deploy passes."""
    # `cf push --var NAME=...` for each: .ci/deploy passes exactly these (tests/test_deploy_files.py).
    assert manifest["docker"] == {"image": "((image))", "username": "((docker_username))"}
    assert manifest["routes"] == [{"route": "((route))"}]


async def test_health_check_needs_no_backend(
    manifest: dict[str, Any],
) -> None:
    """The health check endpoint is a route that answers without the backend."""
    app = create_app(Config(numbers_api_url="http://127.0.0.1:9/unreachable"))
    async with app.test_app():
        response = await app.test_client().get(manifest["health-check-http-endpoint"])
    assert response.status_code == 200


def test_its_variables_are_valid_settings(manifest: dict[str, Any]) -> None:
    settings = {name: str(value) for name, value in manifest["env"].items()}
    Config.from_env(settings)  # raises ConfigError on a bad value


def test_app_reads_every_variable(manifest: dict[str, Any]) -> None:
    """Every variable it sets is one the app reads."""
    for name in manifest["env"]:
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: "not a valid value"})


def test_drain_ends_before_kill(
    manifest: dict[str, Any],
) -> None:
    """The drain and the grace period end before Cloud Foundry kills the instance."""
    config = Config.from_env({name: str(value) for name, value in manifest["env"].items()})
    assert config.drain_seconds > 0
    assert config.drain_seconds + config.graceful_timeout < 10  # Cloud Foundry: SIGTERM, then 10 s
    assert config.numbers_api_timeout < config.graceful_timeout
