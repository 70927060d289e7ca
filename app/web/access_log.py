"""Hypercorn's access log: its readable line, made and written without copying the whole
environment or making a log record per request, or (LOG_FORMAT=json) one JSON object with the
fields of the request's record and the fetch that answered it."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, cast

from hypercorn.logging import Logger
from hypercorn.typing import ResponseSummary, WWWScope

from app.web.request_context import FETCH_HEADER, RECORD, RequestRecord

_FETCH_HEADER = FETCH_HEADER.lower().encode()


class AccessLogger(Logger):
    """Hypercorn's logger, with its access-log line made and written more cheaply: the line is the same.

    Hypercorn's own atoms hold every request header, response header and environment
    variable, for a line that uses eight of them; this logger makes those eight. And each
    line went through the logging module, whose record alone was 3% of a `/healthz`'s CPU:
    the line is written to standard output as Hypercorn's handler would format it
    (docs/design.md, "A lean access-log line").
    """

    async def access(self, request: WWWScope, response: ResponseSummary | None, request_time: float) -> None:
        if self.access_logger is None:
            return
        line = self.access_log_format % self.atoms(request, response, request_time)
        # Hypercorn's handler format: "%(asctime)s [%(process)d] [%(levelname)s] %(message)s".
        try:
            sys.stdout.write(f"{_stamps(int(time.time())).record} [{os.getpid()}] [INFO] {line}\n")
            sys.stdout.flush()
        except OSError:  # standard output is gone (a closed pipe): the request is served all the same
            return

    def atoms(
        self, request: WWWScope, response: ResponseSummary | None, request_time: float
    ) -> Mapping[str, str]:
        client = request.get("client")
        method = request["method"] if request["type"] == "http" else "GET"
        return {
            "h": f"{client[0]}:{client[1]}" if client else "-",
            "l": "-",
            "t": _stamps(int(time.time())).request,
            "r": f"{method} {request['path']} {request.get('http_version', 'ws')}",
            "s": str(response["status"]) if response is not None else "-",
            "b": _header(response.get("headers", ()), b"content-length") if response is not None else "-",
            "f": _header(request["headers"], b"referer"),
            "a": _header(request["headers"], b"user-agent"),
        }


class _Stamps(NamedTuple):
    record: str  # Hypercorn's handler's date format
    request: str  # the access log's own time atom, Apache's format


@functools.lru_cache(maxsize=1)
def _stamps(second: int) -> _Stamps:
    """The line's two local times, made once a second."""
    local = time.localtime(second)
    return _Stamps(
        time.strftime("[%Y-%m-%d %H:%M:%S %z]", local), time.strftime("[%d/%b/%Y:%H:%M:%S %z]", local)
    )


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin1")
    return "-"


class JsonAccessLogger(AccessLogger):
    """One record per request with its fields; the root logger's JSON formatter renders it.

    A request Hypercorn refused before the app saw it (a malformed one) has no id or route.
    """

    async def access(self, request: WWWScope, response: ResponseSummary | None, request_time: float) -> None:
        if self.access_logger is None:
            return
        record: RequestRecord | None = cast(Mapping[str, Any], request).get(RECORD)
        headers = response.get("headers", ()) if response is not None else ()
        length = _header(headers, b"content-length")
        fetch_id = _header(headers, _FETCH_HEADER)
        self.access_logger.info(
            "request",
            extra={
                "request_id": record.request_id if record else None,
                "method": request["method"] if request["type"] == "http" else "GET",
                "route": record.route if record else None,
                "path": request["path"],
                "status": response["status"] if response is not None else None,
                "duration": round(request_time, 6),
                "bytes": int(length) if length.isdigit() else None,
                "fetch_id": fetch_id if fetch_id != "-" else None,
            },
        )
