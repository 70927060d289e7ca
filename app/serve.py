"""`python -m app`: serve the app with Hypercorn on HOST:PORT."""

from __future__ import annotations

import asyncio
import logging
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from app.access_log import AccessLogger
from app.config import Config, ConfigError
from app.factory import create_app


def hypercorn_config(config: Config) -> HypercornConfig:
    server = HypercornConfig()
    server.bind = [f"{config.host}:{config.port}"]
    server.accesslog = "-"  # one line per request, on stdout
    server.logger_class = AccessLogger
    # Server messages go through the root logger at LOG_LEVEL, like the app's own; the
    # level Hypercorn is given applies to its access log only, which stays on.
    server.errorlog = logging.getLogger("hypercorn.error")
    server.loglevel = "INFO"
    server.graceful_timeout = config.graceful_timeout
    return server


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"total-service: configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Without a shutdown trigger Hypercorn handles SIGTERM and SIGINT itself: it stops
    # accepting, lets in-flight requests finish within graceful_timeout, then returns.
    asyncio.run(serve(create_app(config), hypercorn_config(config)))
    return 0
