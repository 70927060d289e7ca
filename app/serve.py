"""One process serving the app with Hypercorn, on HOST:PORT or on a socket its supervisor holds
(WORKERS > 1, app.supervisor), until a signal; then a drain and a graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import signal
import sys
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart

from app import protocols
from app.config import Config
from app.connections import HYPERCORN_AFTER_SECONDS, end_connections_after
from app.web.access_log import AccessLogger, JsonAccessLogger
from app.web.factory import create_app
from app.web.service import service_of

log = logging.getLogger(__name__)

# Requests still waiting for a fetch this long before the grace period ends are answered
# 503: time enough to write the answers before Hypercorn cancels whatever is left.
ANSWER_MARGIN = 0.5
KEEP_ALIVE_SECONDS = 5.0
HEAD_READ_LIMIT = 64 * 1024
# Open connections each take a file descriptor; a soft limit of 1,024 (common on desktops)
# would refuse clients long before memory or CPU run out.
WANTED_FILE_DESCRIPTORS = 65_536


def hypercorn_config(config: Config, listen_fd: int | None = None) -> HypercornConfig:
    """Hypercorn's settings; bound to HOST:PORT, or to the listening socket `listen_fd`."""
    server = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host  # an IPv6 address
    server.bind = [f"{host}:{config.port}" if listen_fd is None else f"fd://{listen_fd}"]
    if not config.access_log:
        server.accesslog = None
    elif config.log_format == "json":
        # Through the root logger's JSON formatter, on stdout with every other record.
        access = logging.getLogger("hypercorn.access")
        access.setLevel(logging.INFO)
        server.accesslog = access
        server.logger_class = JsonAccessLogger
    else:
        server.accesslog = "-"  # one line per request, on stdout
        server.logger_class = AccessLogger
    # Server messages go through the root logger at LOG_LEVEL, like the app's own; the
    # level Hypercorn is given applies to its access log only, which stays on.
    server.errorlog = logging.getLogger("hypercorn.error")
    server.loglevel = "INFO"
    server.graceful_timeout = config.graceful_timeout + HYPERCORN_AFTER_SECONDS  # app.connections ends first
    # Limits against clients that hold the server's memory or connections; each is tried
    # by tests/reliability/test_hostile_clients.py (HTTP/1.1) and test_hostile_http2.py.
    # The most of a request head the server takes before the app sees it: HTTP/1.1 buffers
    # this much of an unfinished head (read 64 KiB at a time, so a head of up to twice this
    # may arrive whole), HTTP/2 takes header fields of this size. Past it the request is
    # refused by Hypercorn (HTTP/1.1: 431 with no body; HTTP/2: no answer). Below it the app
    # answers a head over its own limit (16 KiB, app.web.problems) with problem+json, whatever
    # pieces the head arrived in; with 16 KiB here, a head cut into pieces was refused by
    # Hypercorn and the same head in one piece served.
    server.h11_max_incomplete_size = HEAD_READ_LIMIT
    server.h2_max_header_list_size = HEAD_READ_LIMIT
    # Streams open at once on an HTTP/2 connection (Hypercorn's default, pinned): more are
    # refused. A client needs one per request it waits on.
    server.h2_max_concurrent_streams = 100
    # Requests on one connection before it is closed (HTTP/1.1: `Connection: close` on the
    # answer; HTTP/2: GOAWAY). It bounds the streams a rapid-reset client opens and cancels on
    # one connection (CVE-2023-44487) to 1,000 app tasks before it must connect again, while
    # a client that keeps its connection pays one reconnection per 1,000 requests.
    server.keep_alive_max_requests = 1000
    # From connecting (or from the last answer) to a request's complete headers: it closes
    # idle keep-alive connections and slowloris clients that trickle their headers.
    server.keep_alive_timeout = KEEP_ALIVE_SECONDS
    # No read timeout: it would also cut a request waiting for a slow fetch. Bodies are
    # refused with 413 at once (app.web.problems), so no client is read slowly after it.
    server.read_timeout = None
    return server


async def serve_until_signalled(app: Quart, config: Config, listen_fd: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT; then drain for DRAIN_SECONDS, stop accepting and give
    requests the grace period.

    While draining, /readyz answers 503 and every request is still served, so that a load
    balancer stops sending requests before the listener closes; a second signal ends the
    drain at once. Requests that a fetch cannot answer in time get 503 just before the
    grace period ends, rather than being cancelled by Hypercorn with an empty 500.
    """
    loop = asyncio.get_running_loop()
    service = service_of(app)
    draining = False
    stopping = asyncio.Event()

    def stop_serving(reason: str) -> None:
        if stopping.is_set():
            return
        log.info("%s: shutting down; requests in flight have %g s", reason, config.graceful_timeout)
        stopping.set()
        loop.call_later(max(0.0, config.graceful_timeout - ANSWER_MARGIN), service.stop)
        end_connections_after(config.graceful_timeout)

    def on_signal(signal_name: str) -> None:
        nonlocal draining
        if draining or config.drain_seconds == 0:
            stop_serving(signal_name)
            return
        draining = True
        log.info("%s: draining for %g s: /readyz answers 503", signal_name, config.drain_seconds)
        service.drain()
        loop.call_later(config.drain_seconds, stop_serving, "drained")

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, on_signal, signal_number.name)
    loop.set_exception_handler(_without_cancelled_connections)
    protocols.install()
    # The objects made at start-up (78,000: the app, its libraries) live as long as the
    # process: kept out of the collector's sight, a full collection no longer walks them
    # (it took 0.12-0.19 s with them, holding the loop, at times in the middle of a burst).
    gc.freeze()
    await serve(app, hypercorn_config(config, listen_fd), shutdown_trigger=stopping.wait)


def _without_cancelled_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler, quiet about a connection cancelled at the grace period's
    end: asyncio 3.11's stream callback logs it as an error with a traceback (3.12 does not)."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


def raise_file_limit() -> None:
    """Raise the soft limit on open files towards WANTED_FILE_DESCRIPTORS, within the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_FILE_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, WANTED_FILE_DESCRIPTORS)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def serve_forever(config: Config, listen_fd: int | None = None) -> int:
    """Serve until signalled; the exit status."""
    raise_file_limit()
    try:
        asyncio.run(serve_until_signalled(create_app(config), config, listen_fd))
    except OSError as error:  # the address cannot be bound: in use, or not this machine's
        print(f"total-service: cannot serve on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    return 0
