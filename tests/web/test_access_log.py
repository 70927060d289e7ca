"""The text access log: the line Hypercorn's own logger writes, made more cheaply."""

from __future__ import annotations

import pytest
from hypercorn.config import Config
from hypercorn.logging import Logger
from hypercorn.typing import ConnectionState, HTTPScope, ResponseSummary

from app.web.access_log import AccessLogger

REQUEST: HTTPScope = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/total",
    "raw_path": b"/total",
    "query_string": b"probe=1",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1"), (b"User-Agent", b"curl/8.5.0"), (b"referer", b"http://x/docs")],
    "client": ("127.0.0.1", 50123),
    "server": ("127.0.0.1", 5000),
    "state": ConnectionState({}),
    "extensions": {},
}
RESPONSE: ResponseSummary = {"status": 200, "headers": [(b"content-length", b"26")]}


async def lines_of(logger: Logger, capsys: pytest.CaptureFixture[str]) -> str:
    await logger.access(REQUEST, RESPONSE, 0.0012)
    return capsys.readouterr().out


async def test_same_line_as_hypercorn(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config()
    config.accesslog = "-"  # both write to standard output, as the service's text mode does
    ours = AccessLogger(config)
    theirs = Logger(config)  # its handler: a StreamHandler on the standard output pytest captures
    for _ in range(3):  # the clock may pass a second between the two lines
        line, expected = await lines_of(ours, capsys), await lines_of(theirs, capsys)
        if line == expected:
            break
    assert line == expected
    assert line.endswith('"GET /total 1.1" 200 26 "http://x/docs" "curl/8.5.0"\n')


async def test_no_line_when_off(capsys: pytest.CaptureFixture[str]) -> None:
    config = Config()
    config.accesslog = None
    assert await lines_of(AccessLogger(config), capsys) == ""
