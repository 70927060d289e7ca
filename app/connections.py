"""The end of the grace period for connections Hypercorn would leave open.

Hypercorn 0.18 stops in this order: close the listener, `await Server.wait_closed()`, then give
the connections GRACEFUL_TIMEOUT and cancel those still running. Since Python 3.12.1,
`wait_closed()` waits for every open connection (pgjones/hypercorn#308), so one that never
closes keeps the process alive for good: an HTTP/2 stream whose answer the client's
flow-control window never lets through, for one (app.protocols closes idle HTTP/2 connections
on shutdown, not that one). On 3.11 the cancellation is reached.

So when the grace period ends, the sockets of the connections still open are shut down, both
ways: each connection then reads the end of its stream and closes as if the client had left,
on every Python version, before Hypercorn's own cancellation."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import ExitStack, suppress

# This process's open file descriptors, by number (Linux's /proc/self/fd; macOS has it too).
DESCRIPTORS = "/dev/fd"
# Hypercorn's own cancellation comes this long after the grace period, for whatever the
# shutdown did not end (it never comes on Python >= 3.12.1, where wait_closed() waits first).
HYPERCORN_AFTER_SECONDS = 0.25


def end_connections_after(seconds: float) -> None:
    """In `seconds`, shut down every connection still open on the ports this process listens on now."""
    ports = listening_ports()
    asyncio.get_running_loop().call_later(seconds, shut_down_connections, ports)


def listening_ports() -> frozenset[int]:
    """The TCP ports of this process's listening sockets."""
    with ExitStack() as stack:
        return frozenset(
            sock.getsockname()[1]
            for sock in tcp_sockets(stack)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        )


def shut_down_connections(ports: frozenset[int]) -> int:
    """Shut down, both ways, this process's connected TCP sockets on `ports`; how many."""
    ended = 0
    with ExitStack() as stack:
        for sock in tcp_sockets(stack):
            if sock.getsockname()[1] not in ports or sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            with suppress(OSError):  # not connected, or already shut down by the client
                sock.getpeername()
                sock.shutdown(socket.SHUT_RDWR)
                ended += 1
    return ended


def tcp_sockets(stack: ExitStack) -> Iterator[socket.socket]:
    """A duplicate of each of this process's TCP sockets, closed by `stack`: the originals,
    and the event loop's hold on them, stay as they are (a shutdown applies to them all)."""
    for name in os.listdir(DESCRIPTORS):
        try:
            if not stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                continue
            duplicate = os.dup(int(name))
        except OSError:  # closed since the listing (the listing's own descriptor among them)
            continue
        try:
            sock = stack.enter_context(socket.socket(fileno=duplicate))
        except OSError:  # a socket Python cannot take (an unknown family)
            os.close(duplicate)
            continue
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            yield sock
