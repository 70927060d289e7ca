"""Start a server as a real process on a loopback port, wait until it answers, stop it: for the
tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

PROJECT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server started with `argv` that serves http://127.0.0.1:port; its output goes to files.

    The port is in the environment as PORT (with HOST), and in `argv` wherever it says {port}.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        ready_path: str | None = "/healthz",
        cpus: set[int] | None = None,
        port: int | None = None,
        scheme: str = "http",
        cwd: Path = PROJECT,
    ) -> None:
        self.port = port or free_port()
        self.url = f"{scheme}://{LOOPBACK}:{self.port}"
        self.stdout_path = log_dir / f"server-{self.port}.out"
        self.stderr_path = log_dir / f"server-{self.port}.err"
        full_env = {**os.environ, **env, "HOST": LOOPBACK, "PORT": str(self.port)}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [arg.format(port=self.port) for arg in argv],
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=err,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        self._wait_ready(ready_path)

    def _wait_ready(self, path: str | None, timeout: float = 60.0) -> None:
        """Wait until GET `path` answers 2xx, or, with no path, until the port takes connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.stderr()}")
            try:
                if path is None:
                    socket.create_connection((LOOPBACK, self.port), timeout=1).close()
                    return
                with urllib.request.urlopen(self.url + path, timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s: {self.stderr()}")

    def scraped(self, sample: str, **labels: str) -> float:
        """The sum of the samples named `sample`, with these `labels` if given, in the server's /metrics."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            exposition = response.read().decode()
        return sum(
            found.value
            for family in text_string_to_metric_families(exposition)
            for found in family.samples
            if found.name == sample and labels.items() <= found.labels.items()
        )

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the server's log (stderr) holds `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not logged within {timeout} s")
            time.sleep(0.02)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if the process has not exited within `timeout`."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def second_instance(port: int, workers: str) -> subprocess.CompletedProcess[str]:
    """`python -m app` started with WORKERS=`workers` on a port another instance serves: its
    exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=PROJECT,
        env={"PORT": str(port), "PATH": "", "WORKERS": workers},
        capture_output=True,
        text=True,
        timeout=30,
    )


@contextmanager
def service(env: Mapping[str, str], log_dir: Path, cpus: set[int] | None = None) -> Iterator[ServerProcess]:
    """total-service as users start it: `python -m app`."""
    with ServerProcess([sys.executable, "-m", "app"], env, log_dir, cpus=cpus) as server:
        yield server


@contextmanager
def reference_backend(
    log_dir: Path,
    count: int,
    delay: float = 0.0,
    cpus: set[int] | None = None,
    options: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """The reference numbers backend, serving 0..count-1 at /numbers; `options` as on its command line.

    Served over HTTPS when `options` name a certificate; then ready once it takes connections.
    Every warning is an error in it: one at start-up stops it, one in a request answers 500.
    """
    argv = [sys.executable, "-W", "error", "-m", "tools.reference_backend", "--port", "{port}"]
    tls = "--certificate" in options
    with ServerProcess(
        [*argv, "--count", str(count), "--delay", str(delay), *options],
        {},
        log_dir,
        cpus=cpus,
        port=port,
        scheme="https" if tls else "http",
        ready_path=None if tls else "/healthz",
    ) as server:
        yield server
