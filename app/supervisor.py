"""WORKERS > 1: a supervisor holds the listening socket and keeps WORKERS worker processes
(`python -m app.worker`) serving it, with one set of metrics and one lifecycle.

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

    def __init__(self, config: Config, listen_fd: int) -> None:
        self.workers = config.workers
        self.listen_fd = listen_fd
        self.running: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.exit_codes: list[int] = []
        self._last_start = 0.0

    def run(self) -> int:
        """Keep WORKERS workers until a signal, then wait for all to exit; the exit status."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for _ in range(self.workers):
            self._start()
        published = 0.0
        while not self.stopping or self.running:
            self._reap()
            replace_due = time.monotonic() - self._last_start >= RESTART_SECONDS
            if not self.stopping and len(self.running) < self.workers and replace_due:
                self._start()
            if time.monotonic() - published >= PUBLISH_SECONDS:
                self._publish()
                published = time.monotonic()
            time.sleep(POLL_SECONDS)
        return 0 if not any(self.exit_codes) else 1

    def _start(self) -> None:
        # bandit's B603: the command is this interpreter and module, with no input in it.
        worker = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "app.worker", str(self.listen_fd)],
            pass_fds=(self.listen_fd,),
            process_group=0,  # a terminal's Ctrl-C reaches the supervisor alone, which passes it on
        )
        self.running[worker.pid] = worker
        self._last_start = time.monotonic()

    def _reap(self) -> None:
        for pid, worker in list(self.running.items()):
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
        for worker in self.running.values():
            worker.send_signal(number)


def _process_figures(pid: int) -> Iterator[tuple[str, float]]:
    for family in ProcessCollector(pid=lambda: pid, registry=None).collect():
        for sample in family.samples:
            yield sample.name, sample.value


def supervise(config: Config) -> int:
    """Bind HOST:PORT, run WORKERS workers on it until signalled; the exit status."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        listener = socket.create_server((config.host, config.port), family=family)
    except OSError as error:  # the address cannot be bound: in use, or not this machine's
        print(f"total-service: cannot serve on {config.host}:{config.port}: {error}", file=sys.stderr)
        return 1
    log.info("%d workers serving %s:%d", config.workers, config.host, config.port)
    listener.set_inheritable(True)
    try:
        return Supervisor(config, listener.fileno()).run()
    finally:
        listener.close()
