"""End to end: `python -m app` as a real process on a loopback port."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.processes import PROJECT, ServerProcess, reference_backend, service

FULL_TOTAL = 50000005000000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The service with the default list of numbers and a short delay."""
    with service({"NUMBERS_API_DELAY": "0.2"}, tmp_path_factory.mktemp("server")) as process:
        yield process


async def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        return response.status, dict(response.headers), await response.read()


async def test_total_of_the_default_numbers(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/total")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body.strip() == b'{"total":%d}' % FULL_TOTAL


async def test_head_total(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/total", "HEAD")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(b'{"total":%d}\n' % FULL_TOTAL)
    assert body == b""


async def test_healthz(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/healthz")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body.strip() == b'{"status":"ok"}'


async def test_404_and_405_are_problem_json(server: ServerProcess) -> None:
    status, headers, body = await get(server.url + "/no-such-path")
    assert (status, headers["Content-Type"]) == (404, "application/problem+json")
    assert b'"status": 404' in body
    status, headers, body = await get(server.url + "/total", "DELETE")
    assert (status, headers["Content-Type"]) == (405, "application/problem+json")
    assert "GET" in headers["Allow"]
    assert b"<html" not in body.lower()


async def test_one_access_log_line_per_request_on_stdout(server: ServerProcess) -> None:
    agent = f"access-log-test-{uuid.uuid4()}"
    async with (
        aiohttp.ClientSession(headers={"User-Agent": agent}) as session,
        session.get(server.url + "/healthz") as response,
    ):
        assert response.status == 200
    # Hypercorn writes the line just after the response: give it a moment.
    for _ in range(100):
        if agent in server.stdout():
            break
        await asyncio.sleep(0.02)
    lines = [line for line in server.stdout().splitlines() if agent in line]
    assert len(lines) == 1
    assert '"GET /healthz 1.1" 200' in lines[0]


async def test_concurrent_requests_share_one_backend_fetch(tmp_path: Path) -> None:
    with service({"NUMBERS_API_DELAY": "1.0", "NUMBERS_API_COUNT": "1000"}, tmp_path) as process:
        async with aiohttp.ClientSession() as session:

            async def total() -> int:
                async with session.get(process.url + "/total") as response:
                    assert response.status == 200
                    body: dict[str, int] = await response.json()
                    return body["total"]

            totals = await asyncio.gather(*(total() for _ in range(50)))
    assert totals == [499500] * 50
    assert process.stderr().count("fetching numbers") == 1


async def test_sigterm_lets_requests_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    process = ServerProcess([sys.executable, "-m", "app"], {"NUMBERS_API_DELAY": "1.0"}, tmp_path)
    try:
        async with aiohttp.ClientSession() as session:

            async def total() -> tuple[int, bytes]:
                async with session.get(process.url + "/total") as response:
                    return response.status, await response.read()

            requests = [asyncio.create_task(total()) for _ in range(10)]
            await asyncio.to_thread(process.wait_for_log, "fetching numbers")
            process.terminate()
            results = await asyncio.gather(*requests)
        exit_code = await asyncio.to_thread(process.process.wait, 15)
    finally:
        process.stop()
    assert [status for status, _ in results] == [200] * 10
    assert all(body.strip() == b'{"total":%d}' % FULL_TOTAL for _, body in results)
    assert exit_code == 0


def test_a_bad_setting_stops_start_up_with_one_line_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=PROJECT,
        env={"NUMBERS_API_COUNT": "lots", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "NUMBERS_API_COUNT" in lines[0]
    assert "an integer >= 0" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with reference_backend(tmp_path_factory.mktemp("backend"), count=10_000_001) as process:
        yield process


async def test_total_from_the_reference_backend_process(backend: ServerProcess, tmp_path: Path) -> None:
    with service({"NUMBERS_API_URL": backend.url + "/numbers"}, tmp_path) as process:
        status, headers, body = await get(process.url + "/total")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body.strip() == b'{"total":%d}' % FULL_TOTAL


async def test_a_faulty_backend_gets_a_502_and_the_service_keeps_serving(
    backend: ServerProcess, tmp_path: Path
) -> None:
    with service({"NUMBERS_API_URL": backend.url + "/faults/not-a-number"}, tmp_path) as process:
        first = await get(process.url + "/total")
        health = await get(process.url + "/healthz")
        second = await get(process.url + "/total")
        stderr = process.stderr()
    for status, headers, body in (first, second):
        assert (status, headers["Content-Type"]) == (502, "application/problem+json")
        assert b"item 2 is a string, not a number" in body
    assert health[0] == 200
    assert "Traceback" not in stderr
