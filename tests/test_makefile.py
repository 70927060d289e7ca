"""The Makefile's choice of Python: the newest python3.X of 3.11 to 3.13 that runs from the PATH,
or the one PYTHON names; with none, one line that says which versions work."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.processes import PROJECT

MAKE = shutil.which("make")
# A target that prints the Python the Makefile chose, added beside the Makefile for the test.
SHOW = "show-python:\n\t$(info $(PYTHON))\n"


def path_with(tmp_path: Path, pythons: Mapping[str, str | None]) -> str:
    """A PATH holding only stand-in Pythons (name -> the version it reports, or None for one
    that does not run, as a pyenv shim of a version not selected) and the tools make calls."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, version in pythons.items():
        script = directory / name
        script.write_text(f"#!/bin/sh\necho {version}\n" if version else "#!/bin/sh\nexit 127\n")
        script.chmod(0o755)
    for tool in ("id", "awk"):
        found = shutil.which(tool)
        assert found is not None
        (directory / tool).symlink_to(found)
    return str(directory)


def make(tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    extra = tmp_path / "show.mk"
    extra.write_text(SHOW)
    return subprocess.run(
        [MAKE, "--no-print-directory", "--silent", "-f", "Makefile", "-f", str(extra), *args],
        cwd=PROJECT,
        env={"PATH": path, "PIP_INDEX_URL": "unused"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("pythons", "chosen"),
    [
        ({"python3.11": "3.11", "python3.12": "3.12", "python3.13": "3.13"}, "python3.13"),
        ({"python3.11": "3.11", "python3.12": "3.12", "python3.13": None}, "python3.12"),
        ({"python3.11": "3.11", "python3.14": "3.14"}, "python3.11"),
    ],
)
def test_newest_supported_python_that_runs(
    tmp_path: Path, pythons: dict[str, str | None], chosen: str
) -> None:
    result = make(tmp_path, path_with(tmp_path, pythons), "show-python")
    assert (result.returncode, result.stdout.strip()) == (0, chosen), result.stderr


def test_python_named(tmp_path: Path) -> None:
    pythons = {"python3.11": "3.11", "python3.13": "3.13"}
    result = make(tmp_path, path_with(tmp_path, pythons), "show-python", "PYTHON=python3.11")
    assert (result.returncode, result.stdout.strip()) == (0, "python3.11"), result.stderr


@pytest.mark.parametrize(
    ("pythons", "args", "reason"),
    [
        (
            {"python3": "3.14", "python3.14": "3.14"},
            (),
            "no python3.11 to python3.13 runs from the PATH (python3 is 3.14)",
        ),
        ({"python3.10": "3.10"}, ("PYTHON=python3.10",), "python3.10 is 3.10"),
        ({"python3.14": "3.14"}, ("PYTHON=python3.14",), "python3.14 is 3.14"),
        ({"python3.13": None}, (), "no python3.11 to python3.13 runs from the PATH;"),
        ({}, ("PYTHON=python3.12",), "PYTHON=python3.12 does not run"),
    ],
    ids=["newer-only", "older", "newer", "shim-only", "missing"],
)
def test_unsupported_python_one_line(
    tmp_path: Path, pythons: dict[str, str | None], args: tuple[str, ...], reason: str
) -> None:
    """make run and make test stop at once with one line naming the versions that work."""
    path = path_with(tmp_path, pythons)
    for target in ("run", "test"):
        result = make(tmp_path, path, target, *args)
        assert result.returncode == 2
        (line,) = result.stderr.splitlines()
        assert "total-service runs on Python 3.11 to 3.13: " in line
        assert reason in line
        assert "name one with PYTHON=" in line


def test_help_needs_no_python(tmp_path: Path) -> None:
    result = make(tmp_path, path_with(tmp_path, {}), "help")
    assert result.returncode == 0
    assert "run " in result.stdout
