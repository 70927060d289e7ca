"""Log output: readable lines (LOG_FORMAT=text), or one JSON object per line on stdout (json).

The service's modules log through the standard library; in JSON mode structlog's formatter
renders every record, Hypercorn's included, with the fields given in `extra` and those bound
to the context (the request's id, the fetch's id).
"""

from __future__ import annotations

import logging
import sys

import structlog

from app.config import Config

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(config: Config) -> None:
    if config.log_format == "text":
        logging.basicConfig(level=config.log_level, format=TEXT_FORMAT)
        return
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    logging.basicConfig(level=config.log_level, handlers=[handler])
