"""Shutdown on every supported Python: connections still open when the grace period ends are
closed, and the service exits 0 in time, with no traceback (app.connections; without it,
Python 3.12.1 and later wait for them for good)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from tests.processes import LOOPBACK, ServerProcess

GRACE_SECONDS = 2
# Client preface, then an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
H2C_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
SETTINGS = 0x4


def idle_h2c(port: int) -> socket.socket:
    """An HTTP/2 connection (prior knowledge, no TLS) that opens no stream, once the server has
    sent its own SETTINGS."""
    connection = socket.create_connection((LOOPBACK, port), timeout=5)
    connection.sendall(H2C_PREFACE)
    frame_header = connection.recv(9, socket.MSG_WAITALL)
    assert frame_header[3] == SETTINGS, frame_header
    return connection


def unread_h2c_answer(port: int) -> socket.socket:
    """An HTTP/2 connection whose one request's answer cannot be sent: the client's
    flow-control window is 0 and never opens, so the stream stays open through the shutdown."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    )
    client.initiate_connection()
    client.send_headers(
        1,
        [(":method", "GET"), (":path", "/healthz"), (":scheme", "http"), (":authority", "localhost")],
        end_stream=True,
    )
    connection = socket.create_connection((LOOPBACK, port), timeout=5)
    connection.sendall(client.data_to_send())
    events: list[h2.events.Event] = []
    while not any(isinstance(event, h2.events.ResponseReceived) for event in events):  # its HEADERS
        events += client.receive_data(connection.recv(65536))
    return connection


def idle_http11(port: int) -> socket.socket:
    """An HTTP/1.1 keep-alive connection after one answered request."""
    connection = socket.create_connection((LOOPBACK, port), timeout=5)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    return connection


def read_to_end(connection: socket.socket) -> None:
    """Read until the server closes the connection (socket.timeout if it does not)."""
    while connection.recv(65536):
        pass


@pytest.mark.parametrize(
    ("workers", "signal_number"),
    [("1", signal.SIGTERM), ("1", signal.SIGINT), ("2", signal.SIGTERM)],
    ids=["sigterm", "ctrl-c", "two-workers"],
)
def test_open_connections_end_with_the_grace_period(
    tmp_path: Path, workers: str, signal_number: signal.Signals
) -> None:
    """A stream whose answer the client never lets through, beside idle HTTP/2 and keep-alive
    connections, does not keep the service past its grace period."""
    env = {"GRACEFUL_TIMEOUT": str(GRACE_SECONDS), "WORKERS": workers, "ACCESS_LOG": "off"}
    with ServerProcess([sys.executable, "-m", "app"], env, tmp_path) as server:
        deadline = time.monotonic() + 20
        while server.stderr().count("Running on") < int(workers):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        # With two workers, the kernel hands each connection to either one.
        connections = [unread_h2c_answer(server.port) for _ in range(4)]
        connections += [idle_h2c(server.port), idle_http11(server.port)]
        server.process.send_signal(signal_number)
        try:
            exit_code = server.process.wait(GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {GRACE_SECONDS + 5} s after {signal_number.name}")
        for connection in connections:
            read_to_end(connection)
            connection.close()
    assert exit_code == 0
    assert "Traceback" not in server.stderr()
