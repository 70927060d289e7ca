"""app.connections on real sockets of this process: the connections a listener accepted are shut
down, and nothing else is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from app.connections import listening_ports, shut_down_connections
from tests.processes import LOOPBACK


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def listener(sockets: ExitStack) -> socket.socket:
    return sockets.enter_context(socket.create_server((LOOPBACK, 0)))


def connected_pair(sockets: ExitStack, server: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A client connected to `server`, and the connection `server` accepted."""
    client = sockets.enter_context(socket.create_connection(server.getsockname(), timeout=5))
    accepted = sockets.enter_context(server.accept()[0])
    return client, accepted


def test_listening_ports_are_found(sockets: ExitStack) -> None:
    server = listener(sockets)
    client, _ = connected_pair(sockets, server)
    found = listening_ports()
    assert server.getsockname()[1] in found
    assert client.getsockname()[1] not in found  # connected sockets are not listeners


def test_accepted_connections_are_shut_down(sockets: ExitStack) -> None:
    """Only the connection accepted on the port is ended: the listener and this process's own
    outgoing connection to another port stay open."""
    served, other = listener(sockets), listener(sockets)
    client, accepted = connected_pair(sockets, served)
    outgoing, _ = connected_pair(sockets, other)
    assert shut_down_connections(frozenset({served.getsockname()[1]})) == 1
    assert client.recv(1) == b""  # the client reads the end of the stream
    with pytest.raises(BrokenPipeError):
        accepted.send(b"x")  # and the server's side can no longer write
    outgoing.sendall(b"still open")
    assert served.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
