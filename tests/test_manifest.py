"""manifest.yml names only routes and variables the app really has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from app.config import Config, ConfigError
from app.web.factory import create_app
from bench.processes import PROJECT


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT / "manifest.yml").read_text())
    (application,) = document["applications"]
    return dict(application)


def test_it_runs_the_image_in_256m_with_an_http_health_check(manifest: dict[str, Any]) -> None:
    assert manifest["docker"]["image"]
    assert manifest["memory"] == "256M"
    assert manifest["instances"] >= 1
    assert manifest["timeout"] > 0
    assert manifest["health-check-type"] == "http"


def test_image_registry_user_and_route_are_variables_the_deploy_passes(manifest: dict[str, Any]) -> None:
    # `cf push --var NAME=...` for each: .ci/deploy passes exactly these (tests/test_deploy_files.py).
    assert manifest["docker"] == {"image": "((image))", "username": "((docker_username))"}
    assert manifest["routes"] == [{"route": "((route))"}]


async def test_the_health_check_endpoint_is_a_route_that_answers_without_the_backend(
    manifest: dict[str, Any],
) -> None:
    app = create_app(Config(numbers_api_url="http://127.0.0.1:9/unreachable"))
    async with app.test_app():
        response = await app.test_client().get(manifest["health-check-http-endpoint"])
    assert response.status_code == 200


def test_its_variables_are_valid_settings(manifest: dict[str, Any]) -> None:
    settings = {name: str(value) for name, value in manifest["env"].items()}
    Config.from_env(settings)  # raises ConfigError on a bad value


def test_every_variable_it_sets_is_one_the_app_reads(manifest: dict[str, Any]) -> None:
    for name in manifest["env"]:
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: "not a valid value"})


def test_the_drain_and_the_grace_period_end_before_cloud_foundry_kills_the_instance(
    manifest: dict[str, Any],
) -> None:
    config = Config.from_env({name: str(value) for name, value in manifest["env"].items()})
    assert config.drain_seconds > 0
    assert config.drain_seconds + config.graceful_timeout < 10  # Cloud Foundry: SIGTERM, then 10 s
    assert config.numbers_api_timeout < config.graceful_timeout
