"""The deployment files, checked the closest way this machine allows: no Travis, registry or
Cloud Foundry runs here, so .ci/deploy and .ci/docker-login run against a `cf` and a `docker`
on the PATH that record how they were called."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from app.config import Config, settings
from tests.processes import PROJECT

FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
[ "$1" = login ] && echo "  password: $(cat)" >> "$CALLS"
exit 0
"""
# The rollout is still under way at the first look, finished at the second.
FAKE_CF = """#!/bin/sh
echo "cf $* | CF_DOCKER_PASSWORD=${CF_DOCKER_PASSWORD:-}" >> "$CALLS"
case "$1" in
  app) echo app-guid ;;
  curl)
    if [ -e "$CALLS.looked" ]; then echo '{"resources": []}'
    else touch "$CALLS.looked"; echo '{"resources": [{}]}'; fi ;;
esac
"""
SETTINGS = {
    "TRAVIS_COMMIT": "abc123",
    "DOCKER_IMAGE": "ghcr.io/example/total-service",
    "DOCKER_USERNAME": "pusher",
    "DOCKER_PASSWORD": "push-secret",
    "DOCKERHUB_USERNAME": "puller",
    "DOCKERHUB_TOKEN": "hub-token",
    "DOCKER_PULL_USERNAME": "cf-puller",
    "DOCKER_PULL_TOKEN": "read-only-token",
    "CF_API": "https://api.example.com",
    "CF_USERNAME": "deployer",
    "CF_PASSWORD": "cf-secret",
    "CF_ORG": "org",
    "CF_SPACE": "production",
    "CF_DOMAIN": "apps.example.com",
}


def fake_tools(tmp_path: Path, **tools: str) -> dict[str, str]:
    """An environment whose PATH finds `tools` first; each records its calls in the file CALLS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in tools.items():
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def calls(env: dict[str, str]) -> list[str]:
    return Path(env["CALLS"]).read_text().splitlines()


def test_deploy_pushes_and_rolls_out(tmp_path: Path) -> None:
    """.ci/deploy pushes the image and rolls it out, with arguments the CLI accepts."""
    env = fake_tools(tmp_path, docker=FAKE_DOCKER, cf=FAKE_CF)
    result = run(".ci/deploy", {**env, **SETTINGS, "CF_COMMAND": "cf"})
    assert result.returncode == 0, result.stderr
    lines = calls(env)
    docker = [line for line in lines if line.startswith("docker ")]
    assert docker == [
        "docker login --username pusher --password-stdin ghcr.io",
        "docker login --username puller --password-stdin docker.io",
        "docker tag total-service:abc123 ghcr.io/example/total-service:abc123",
        "docker push ghcr.io/example/total-service:abc123",
    ]
    (push,) = [line for line in lines if line.startswith("cf push ")]
    arguments, environment = push.split(" | ")
    # CLI v8 refuses --docker-username without --docker-image: the manifest names both.
    assert "--docker-username" not in arguments
    assert "--docker-image" not in arguments
    assert arguments.split()[2:] == [
        "-f",
        "manifest.yml",
        "--var",
        "image=ghcr.io/example/total-service:abc123",
        "--var",
        "docker_username=cf-puller",
        "--var",
        "route=total-service-production.apps.example.com",
        "--strategy",
        "rolling",
    ]
    # Cloud Foundry keeps the read-only pull token, never the push credential.
    assert environment == "CF_DOCKER_PASSWORD=read-only-token"
    assert "push-secret" not in push
    # It waited for the rollout: two looks at the deployments, the second finding none active.
    assert sum(line.startswith("cf curl /v3/deployments?app_guids=app-guid") for line in lines) == 2


def test_deploy_takes_the_route_it_is_given(tmp_path: Path) -> None:
    env = fake_tools(tmp_path, docker=FAKE_DOCKER, cf=FAKE_CF)
    settings = {**SETTINGS, "CF_ROUTE": "totals.example.org"}
    del settings["CF_DOMAIN"]
    result = run(".ci/deploy", {**env, **settings, "CF_COMMAND": "cf"})
    assert result.returncode == 0, result.stderr
    assert any("--var route=totals.example.org " in line for line in calls(env))


def test_deploy_checks_cf_cli_checksum(tmp_path: Path) -> None:
    """.ci/deploy refuses a cf CLI that does not match its checksum."""
    fake_curl = '#!/bin/sh\nwhile [ "$1" != -o ]; do shift; done\necho "not the cf CLI" > "$2"\n'
    env = fake_tools(tmp_path, docker=FAKE_DOCKER, curl=fake_curl)
    result = run(".ci/deploy", {**env, **SETTINGS})
    assert result.returncode == 1
    assert "does not match its pinned checksum" in result.stderr


@pytest.mark.parametrize(
    ("image", "logins"),
    [
        ("example/total-service", ["docker.io"]),
        ("docker.io/example/total-service", ["docker.io"]),
        ("registry.example.com:5000/total-service", ["registry.example.com:5000", "docker.io"]),
    ],
)
def test_docker_login_both_registries(tmp_path: Path, image: str, logins: list[str]) -> None:
    """.ci/docker-login reaches the image registry and Docker Hub."""
    env = fake_tools(tmp_path, docker=FAKE_DOCKER)
    result = run(".ci/docker-login", {**env, **SETTINGS, "DOCKER_IMAGE": image})
    assert result.returncode == 0, result.stderr
    assert [line.split()[-1] for line in calls(env) if line.startswith("docker login")] == logins


def test_pipenv_version_pinned() -> None:
    """Pipenv is pinned to one version in the Makefile and the Dockerfile."""
    makefile = re.search(r"^PIPENV_VERSION := (\S+)$", (PROJECT / "Makefile").read_text(), re.MULTILINE)
    dockerfile = re.search(r"^ARG PIPENV_VERSION=(\S+)$", (PROJECT / "Dockerfile").read_text(), re.MULTILINE)
    assert makefile is not None
    assert dockerfile is not None
    assert makefile.group(1) == dockerfile.group(1)
    assert re.fullmatch(r"[0-9.]+", makefile.group(1))


def test_sbom_tool_locked() -> None:
    """The Dockerfile's cyclonedx-bom, which writes the image's SBOM, is Pipfile.lock's version."""
    dockerfile = re.search(r"^ARG CYCLONEDX_BOM_VERSION=(\S+)$", (PROJECT / "Dockerfile").read_text(), re.M)
    lock = json.loads((PROJECT / "Pipfile.lock").read_text())
    assert dockerfile is not None
    assert f"=={dockerfile.group(1)}" == lock["develop"]["cyclonedx-bom"]["version"]


def test_image_settings() -> None:
    """The image listens on every address and logs JSON, as the README's settings table says;
    each setting it gives is one the service accepts."""
    runtime = (PROJECT / "Dockerfile").read_text().replace("\\\n", " ").rpartition("\nFROM ")[2]
    given = dict(
        pair.split("=", 1)
        for line in runtime.splitlines()
        if line.startswith("ENV ")
        for pair in shlex.split(line.removeprefix("ENV "))
    )
    names = {declared.name for declared in settings()}
    config = Config.from_env({name: value for name, value in given.items() if name in names})
    assert (config.host, config.log_format) == ("0.0.0.0", "json")
