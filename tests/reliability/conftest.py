"""Load, faults and hostile clients against real processes: `make reliability-test`.

They take a minute and open thousands of connections, so `make test` leaves them out:
each module is marked `reliability`, which pyproject's addopts deselect. .ci/run runs them.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from tests.processes import ServerProcess


@pytest.fixture(scope="session", autouse=True)
def enough_file_descriptors() -> None:
    """The tests hold up to 2,000 connections at once: raise this process's soft limit for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss_kib(server: ServerProcess) -> int:
    """The server process's resident memory, in KiB."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
