"""WORKERS > 1: a supervisor holds one listening socket per worker on the same address
(SO_REUSEPORT, so that the kernel spreads new connections over them) and keeps WORKERS worker
processes (`python -m app.worker`) serving them, with one set of metrics and one lifecycle.

The sockets live as long as the supervisor: a worker that exits is replaced on its own socket,
and the connections queued there meanwhile wait for the replacement rather than being reset.
On the way out the supervisor lets go of them first, so that each closes with its worker.

SIGTERM and SIGINT are passed on to every worker, which drains and stops as a single process
does (app.serve; a second signal ends the drain at once); the supervisor exits once every
worker has, 0 if each did. A worker that exits on its own is replaced and counted. The
workers' metrics meet in prometheus-client's multiprocess files, so that a scrape of any
worker reports them all; the supervisor adds the process figures of the whole instance.
"""

from __future__ import annotations

import logging
import os
import signal
import socket

# bandit's B404 warns of the module: it starts this program's own workers only.
import subprocess  # nosec B404
import sys
import time
from collections.abc import Iterator
from types import FrameType

from prometheus_client import Counter, Gauge, ProcessCollector
from prometheus_client.multiprocess import mark_process_dead

from app.config import Config

log = logging.getLogger(__name__)

# How often workers are checked for and the process figures taken.
POLL_SECONDS = 0.1
PUBLISH_SECONDS = 1.0
# A worker that cannot start (a broken install) is started again at most this often.
RESTART_SECONDS = 1.0
# Connections each socket queues before its worker accepts them: Hypercorn's backlog.
BACKLOG = 100

RESTARTS = Counter("worker_restarts", "Worker processes that exited on their own and were replaced")
WORKERS = Gauge("workers", "Worker processes running", multiprocess_mode="livesum")
# How a worker ends when the signal passed on finds it still starting, before its handlers.
STOPPED_BY_SIGNAL = {-signal.SIGTERM, -signal.SIGINT}
# The names prometheus-client's process collector gives one process's figures, for the
# instance's processes together (the supervisor's and its workers'). Written to the shared
# files only: this process's own registry holds the process collector's of the same names.
INSTANCE = {
    name: Gauge(
        name, f"{what} of the instance's processes together", multiprocess_mode="livesum", registry=None
    )
    for name, what in (
        ("process_resident_memory_bytes", "Resident memory"),
        ("process_virtual_memory_bytes", "Virtual memory"),
        ("process_open_fds", "Open file descriptors"),
        ("process_cpu_seconds_total", "CPU time"),
    )
}


class Supervisor:
    """Starts WORKERS workers on the listening socket, replaces those that exit, stops them all."""

    def __init__(self, config: Config, listeners: list[socket.socket]) -> None:
        self.workers = config.workers
        self.listeners = listeners  # worker slot -> its socket
        self.running: dict[int, tuple[subprocess.Popen[bytes], int]] = {}  # pid -> worker, slot
        self.stopping = False
        self.exit_codes: list[int] = []
        self._last_start = 0.0

    def run(self) -> int:
        """Keep WORKERS workers until a signal, then wait for all to exit; the exit status."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for slot in range(self.workers):
            self._start(slot)
        published = 0.0
        while not self.stopping or self.running:
            if self.stopping:
                # Each socket now closes when its worker closes its copy, after the drain: new
                # connections are then refused at once, not queued where no worker takes them.
                for listener in self.listeners:
                    listener.close()
            self._reap()
            replace_due = time.monotonic() - self._last_start >= RESTART_SECONDS
            idle = sorted(set(range(self.workers)) - {slot for _, slot in self.running.values()})
            if not self.stopping and idle and replace_due:
                self._start(idle[0])
            if time.monotonic() - published >= PUBLISH_SECONDS:
                self._publish()
                published = time.monotonic()
            time.sleep(POLL_SECONDS)
        return 0 if not any(self.exit_codes) else 1

    def _start(self, slot: int) -> None:
        listen_fd = self.listeners[slot].fileno()
        # bandit's B603: the command is this interpreter and module, with no input in it.
        worker = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "app.worker", str(listen_fd)],
            pass_fds=(listen_fd,),
            process_group=0,  # a terminal's Ctrl-C reaches the supervisor alone, which passes it on
        )
        self.running[worker.pid] = (worker, slot)
        self._last_start = time.monotonic()

    def _reap(self) -> None:
        for pid, (worker, _) in list(self.running.items()):
            code = worker.poll()
            if code is None:
                continue
            del self.running[pid]
            mark_process_dead(pid)  # type: ignore[no-untyped-call]
            if self.stopping:
                self.exit_codes.append(0 if code in STOPPED_BY_SIGNAL else code)
                continue
            RESTARTS.inc()
            log.warning("worker %d exited with status %d: starting another", pid, code)

    def _publish(self) -> None:
        """The instance's process figures, as prometheus-client reads them for each process."""
        totals = dict.fromkeys(INSTANCE, 0.0)
        for pid in (os.getpid(), *self.running):
            for name, value in _process_figures(pid):
                if name in totals:
                    totals[name] += value
        for name, gauge in INSTANCE.items():
            gauge.set(totals[name])
        WORKERS.set(len(self.running))

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if not self.stopping:
            log.info("%s: stopping %d workers", name, len(self.running))
        self.stopping = True
        for worker, _ in self.running.values():
            worker.send_signal(number)


def _process_figures(pid: int) -> Iterator[tuple[str, float]]:
    for family in ProcessCollector(pid=lambda: pid, registry=None).collect():
        for sample in family.samples:
            yield sample.name, sample.value


def listen(config: Config) -> list[socket.socket]:
    """WORKERS sockets listening on HOST:PORT together (SO_REUSEPORT), inherited by the workers.

    Raises OSError if the address is in use, even by sockets that would share it: another
    instance with WORKERS > 1 (same user) would otherwise join this one's and take a share of
    its connections."""
    address, family = (config.host, config.port), socket.AF_INET6 if ":" in config.host else socket.AF_INET
    socket.create_server(address, family=family).close()  # the one that does not share
    listeners: list[socket.socket] = []
    try:
        for _ in range(config.workers):
            listener = socket.create_server(address, family=family, backlog=BACKLOG, reuse_port=True)
            listener.set_inheritable(True)
            listeners.append(listener)
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def supervise(config: Config) -> int:
    """Listen on HOST:PORT, run WORKERS workers on it until signalled; the exit status."""
    try:
        listeners = listen(config)
    except OSError as error:  # the address cannot be bound: in use, or not this machine's
        print(f"total-service: cannot serve on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    log.info("%d workers serving %s:%d", config.workers, config.host, config.port)
    try:
        return Supervisor(config, listeners).run()
    finally:
        for listener in listeners:
            listener.close()
