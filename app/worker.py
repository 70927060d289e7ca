"""`python -m app.worker FD`: one of WORKERS processes, serving the listening socket FD that
its supervisor (app.supervisor) holds and passed on."""

import sys

from app import logs
from app.config import Config
from app.serve import serve_forever


def main() -> int:
    config = Config.from_env()  # the supervisor has checked every setting
    logs.configure(config)
    return serve_forever(config, listen_fd=int(sys.argv[1]))


sys.exit(main())
