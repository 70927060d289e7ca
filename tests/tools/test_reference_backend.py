"""The reference backend as a real process on 127.0.0.1, with every warning an error."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.processes import LOOPBACK, reference_backend

# Far more JSON (23 MB) than the socket buffers hold while the client reads none of it.
LARGE_COUNT = 3_000_000


def get(url: str) -> tuple[bytes, str]:
    """The body and the ETag of GET `url`."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers.get("ETag", "")


@pytest.mark.parametrize(
    "path",
    [
        "/numbers",  # while writing a body the client does not read
        "/faults/slow?seconds=0.2",  # after the client left during a stall
    ],
)
def test_hang_up_is_one_line(tmp_path: Path, path: str) -> None:
    """A client that closes its connection mid-answer is one line in the log, not a traceback,
    and the backend goes on serving."""
    with reference_backend(tmp_path, LARGE_COUNT) as backend:
        with socket.create_connection((LOOPBACK, backend.port), timeout=10) as client:
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode())
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        backend.wait_for_log("hung up")
        assert get(backend.url + "/numbers?count=3")[0] == b"[0,1,2]"
    lines = backend.stderr().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(f"{LOOPBACK} hung up during GET {path}")


def test_count_sets_a_new_list(tmp_path: Path) -> None:
    """POST /count serves a list of that size from then on, under a new ETag, without a warning
    (one would answer 500)."""
    with reference_backend(tmp_path, 5) as backend:
        before = get(backend.url + "/numbers")
        request = urllib.request.Request(backend.url + "/count?value=3", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == {"count": 3}
        after = get(backend.url + "/numbers")
    assert before[0] == b"[0,1,2,3,4]"
    assert after[0] == b"[0,1,2]"
    assert after[1] not in ("", before[1])
    assert backend.stderr() == ""
