"""`python -m app`: the service on HOST:PORT: one process, or with WORKERS > 1 a supervisor
and WORKERS worker processes (app.supervisor)."""

import os
import shutil
import sys
import tempfile

from app import logs
from app.config import Config, ConfigError

# prometheus-client keeps each process's values in files here when several processes share
# one set of metrics; it reads the variable when it is first imported.
METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# Memory, not disk, where the system has it: the values are written on every request. The
# directory in it is mkdtemp's own (bandit's B108 is about fixed names in shared places).
SHARED_MEMORY = "/dev/shm"  # nosec B108


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"total-service: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(config)
    if config.workers == 1:
        from app.serve import serve_forever  # imported once WORKERS is known: see below

        return serve_forever(config)
    shared = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK) else None
    directory = os.environ[METRICS_DIRECTORY] = tempfile.mkdtemp(prefix="total-service-metrics-", dir=shared)
    try:
        from app.supervisor import supervise  # its imports include prometheus-client's

        return supervise(config)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


sys.exit(main())
