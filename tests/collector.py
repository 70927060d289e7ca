"""A real OpenTelemetry collector as a process: rotel, whose PyPI wheel (a dev dependency)
carries the binary, receiving OTLP/HTTP on a loopback port (gRPC on another, unused)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.processes import LOOPBACK, ServerProcess


def rotel_agent() -> Path:
    """The collector's binary, as the rotel package installs it."""
    spec = importlib.util.find_spec("rotel")
    assert spec is not None, "rotel is a dev dependency: pipenv sync --dev"
    assert spec.submodule_search_locations is not None
    return Path(spec.submodule_search_locations[0]) / "rotel-agent"


@contextmanager
def rotel(
    log_dir: Path, options: Sequence[str] = (), cpus: set[int] | None = None
) -> Iterator[ServerProcess]:
    """rotel until the block ends, its exporter the black hole unless `options` name another;
    its `url` is the OTEL_EXPORTER_OTLP_ENDPOINT to give a service, its output in `stdout()`."""
    argv = [
        str(rotel_agent()),
        "start",
        "--otlp-http-endpoint",
        f"{LOOPBACK}:{{port}}",
        "--otlp-grpc-endpoint",
        f"{LOOPBACK}:0",
        "--pid-file",
        str(log_dir / "rotel-{port}.pid"),
        "--exporter",
        "blackhole",
        *options,
    ]
    with ServerProcess(argv, {}, log_dir, ready_path=None, cpus=cpus) as process:
        yield process
