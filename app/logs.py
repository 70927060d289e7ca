"""Log output: readable lines (LOG_FORMAT=text), or one JSON object per line on stdout (json).

The service's modules log through the standard library; in JSON mode structlog's formatter
renders every record, Hypercorn's included, with the fields given in `extra` and those bound
to the context (the request's id, the fetch's id), and with tracing on the current span's
`trace_id` and `span_id`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

from app.config import Config

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(config: Config) -> None:
    if config.log_format == "text":
        logging.basicConfig(level=config.log_level, format=TEXT_FORMAT)
        return
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if config.otel_traces_url is not None:
        chain.append(trace_ids())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    logging.basicConfig(level=config.log_level, handlers=[handler])


def trace_ids() -> Processor:
    """A processor adding the current span's ids, as OpenTelemetry writes them (hex), when there is one."""
    # Imported only with tracing on: with it off, OpenTelemetry is not loaded.
    from opentelemetry import trace

    def add(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            event["trace_id"] = trace.format_trace_id(span.trace_id)
            event["span_id"] = trace.format_span_id(span.span_id)
        return event

    return add
