"""Contract test: schemathesis, every check, against a real `python -m app` and its own
/openapi.json: no response breaks the document. `make contract-test`; marked `contract`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import service

pytestmark = pytest.mark.contract


# As started by default, and with the freshness windows, whose answers add caching
# headers and 304 to If-None-Match.
@pytest.mark.parametrize("windows", [{}, {"TOTAL_MAX_AGE": "5", "TOTAL_STALE_WHILE_REVALIDATE": "5"}])
def test_no_response_breaks_the_document(windows: dict[str, str], tmp_path: Path) -> None:
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0.01", **windows}
    with service(env, tmp_path) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),  # the virtualenv's command
                "run",
                server.url + "/openapi.json",
                "--checks=all",
                "--max-examples=50",
                "--seed=1",
            ],
            cwd=tmp_path,  # where schemathesis keeps its cache
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
