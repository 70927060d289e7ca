"""The image's SBOM (/srv/sbom.json, CycloneDX) against Pipfile.lock: each runtime package at
its locked version and nothing else, so no dev package. `make container-test` copies it out of
the image it builds and names the copy in SBOM_FILE; without SBOM_FILE that test is skipped."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from packaging.markers import Marker

from tests.processes import PROJECT

LOCK = json.loads((PROJECT / "Pipfile.lock").read_text())


def normalized(name: str) -> str:
    """A name as PEP 503 compares names: `PyYAML` is `pyyaml`, `pydantic_core` is `pydantic-core`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(section: str) -> dict[str, str]:
    """The packages of a section of the lock that Python 3.11 on Linux installs, and their versions."""
    return {
        normalized(name): entry["version"].removeprefix("==")
        for name, entry in LOCK[section].items()
        if "markers" not in entry or Marker(entry["markers"]).evaluate()
    }


def problems(found: dict[str, str]) -> list[str]:
    """What keeps `found` (name: version) from being exactly the lock's runtime packages."""
    runtime = locked("default")
    dev_only = locked("develop").keys() - runtime.keys()
    wrong = [
        f"{name} {version} is missing" if name not in found else f"{name} is {found[name]}, locked {version}"
        for name, version in sorted(runtime.items())
        if found.get(name) != version
    ]
    extra = [
        f"{name} {found[name]} is {'a dev package' if name in dev_only else 'not locked'}"
        for name in sorted(found.keys() - runtime.keys())
    ]
    return wrong + extra


def test_image_sbom_is_the_lock() -> None:
    """The SBOM the image was built with names every locked runtime package at its version."""
    path = os.environ.get("SBOM_FILE")
    if not path:
        pytest.skip("no SBOM_FILE: `make container-test` builds the image and checks its /srv/sbom.json")
    sbom = json.loads(Path(path).read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    found = {normalized(component["name"]): component["version"] for component in sbom["components"]}
    wrong = problems(found)
    assert not wrong, "the SBOM differs from Pipfile.lock: " + "; ".join(wrong)


class TestProblems:
    """The comparison finds each way an SBOM can differ from the lock."""

    def test_the_lock_itself(self) -> None:
        assert problems(locked("default")) == []

    def test_missing(self) -> None:
        found = locked("default")
        del found["numpy"]
        assert problems(found) == [f"numpy {locked('default')['numpy']} is missing"]

    def test_other_version(self) -> None:
        found = {**locked("default"), "aiohttp": "0.1"}
        assert problems(found) == [f"aiohttp is 0.1, locked {locked('default')['aiohttp']}"]

    def test_dev_package(self) -> None:
        found = {**locked("default"), "pytest": "1.0"}
        assert problems(found) == ["pytest 1.0 is a dev package"]

    def test_unlocked_package(self) -> None:
        found = {**locked("default"), "setuptools": "80.0"}
        assert problems(found) == ["setuptools 80.0 is not locked"]
