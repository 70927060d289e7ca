"""200 clients on /total while the backend, a real process, fails in every way in turn.

Every answer is the exact total or a documented problem response, none waits past the
deadline, and the service recovers by itself when the backend does.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme

from tests.processes import free_port, reference_backend, service

pytestmark = pytest.mark.reliability

CLIENTS = 200
TOTAL = {"total": 499500}
DEADLINE = 1.0  # NUMBERS_API_TIMEOUT
BREAKER_SECONDS = 1.0
# Past the deadline, an answer may still wait its turn among 200 clients on 2 cores.
QUEUEING = 1.5
PHASE_SECONDS = 3.0


@dataclass(frozen=True)
class Answer:
    sent_in: str  # the phase the request was sent in
    came_in: str  # the phase its answer came in
    status: int | None  # None: no HTTP answer (connection refused or dropped)
    body: dict[str, object]
    content_type: str
    seconds: float


class Backend:
    """The reference backend on one fixed port over HTTPS, restarted to change its behaviour."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/numbers"
        trusted = trustme.CA()
        self.ca_file = directory / "ca.pem"
        trusted.cert_pem.write_to_path(str(self.ca_file))
        self.trusted = self._certificate(trusted, "trusted.pem")
        self.self_signed = self._certificate(trustme.CA(), "untrusted.pem")  # a CA nobody trusts
        self._running = ExitStack()

    def _certificate(self, ca: trustme.CA, name: str) -> Path:
        path = self.directory / name
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(path))
        return path

    def start(self, certificate: Path | None = None, fault: str | None = None) -> None:
        self.stop()
        options = ["--certificate", str(certificate or self.trusted)]
        if fault:
            options += ["--numbers-fault", fault]
        backend = reference_backend(self.directory, 1000, delay=0.05, options=options, port=self.port)
        self._running.enter_context(backend)

    def stop(self) -> None:
        self._running.close()


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    backend = Backend(tmp_path)
    yield backend
    backend.stop()


def service_env(backend: Backend) -> dict[str, str]:
    return {
        "NUMBERS_API_URL": backend.url,
        "SSL_CERT_FILE": str(backend.ca_file),  # the service trusts the test's CA, as a private one
        "NUMBERS_API_TIMEOUT": str(DEADLINE),
        "NUMBERS_API_RETRIES": "1",
        "NUMBERS_API_BREAKER_SECONDS": str(BREAKER_SECONDS),
        "GRACEFUL_TIMEOUT": "5",
    }


class Load:
    """CLIENTS clients each asking /total in a loop, every answer recorded under the phase it came in."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.phase = "start"
        self.answers: list[Answer] = []
        self.stopping = False

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=CLIENTS)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._client(session) for _ in range(CLIENTS)))

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while not self.stopping:
            sent_in, started = self.phase, time.monotonic()
            status: int | None = None
            body: dict[str, object] = {}
            content_type = ""
            try:
                async with session.get(self.url) as response:
                    status, content_type = response.status, response.content_type
                    body = json.loads(await response.read())
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)  # no listener: do not spin
            seconds = time.monotonic() - started
            self.answers.append(Answer(sent_in, self.phase, status, body, content_type, seconds))

    def came_in(self, phase: str) -> list[Answer]:
        """The answers that arrived in `phase`: a request sent before the backend changed may
        get the new behaviour's answer."""
        return [answer for answer in self.answers if answer.came_in == phase]

    def sent_in(self, phase: str) -> list[Answer]:
        return [answer for answer in self.answers if answer.sent_in == phase]


def documented(answer: Answer) -> bool:
    """The exact total, or a problem response the README documents for backend trouble."""
    if answer.status == 200:
        return answer.body == TOTAL and answer.content_type == "application/json"
    return (
        answer.status in (502, 503, 504)
        and answer.content_type == "application/problem+json"
        and answer.body.get("status") == answer.status
    )


async def test_faults_get_documented_answers(backend: Backend, tmp_path: Path) -> None:
    """Every fault under load gets a documented answer, and the service recovers."""
    backend.start()
    with service(service_env(backend), tmp_path) as server:
        load = Load(server.url + "/total")
        running = asyncio.ensure_future(load.run())
        phases = [
            ("healthy", lambda: None),
            ("slow", lambda: backend.start(fault="slow")),
            ("failing", lambda: backend.start(fault="status/500")),
            ("stopped", backend.stop),
            ("garbage", lambda: backend.start(fault="garbage")),
            ("self-signed", lambda: backend.start(certificate=backend.self_signed)),
            ("recovering", backend.start),
        ]
        for phase, change in phases:
            load.phase = f"to {phase}"  # a restart takes a second or two; the load goes on
            await asyncio.to_thread(change)
            load.phase = phase
            await asyncio.sleep(PHASE_SECONDS)
        load.phase = "recovered"
        await asyncio.sleep(PHASE_SECONDS)
        load.stopping = True
        await running
        assert server.process.poll() is None  # it kept serving throughout

    assert [answer for answer in load.answers if not documented(answer)] == []
    assert max(answer.seconds for answer in load.answers) < DEADLINE + QUEUEING
    details = {phase: {str(a.body.get("detail")) for a in load.came_in(phase)} for phase in dict(phases)}
    assert {a.status for a in load.came_in("healthy")} == {200}
    assert "the numbers backend did not deliver within 1 s" in details["slow"]
    assert "the numbers backend answered HTTP 500" in details["failing"]
    assert "the numbers backend could not be reached" in details["stopped"]
    assert "the body is not a JSON array" in details["garbage"]
    assert "the numbers backend could not be reached" in details["self-signed"]
    # While the backend keeps failing, the breaker answers at once without asking it.
    assert any(a.status == 503 for phase in ("slow", "failing", "stopped") for a in load.came_in(phase))
    # Within the breaker's pause and one deadline of the backend's return, every answer is exact.
    assert {a.status for a in load.came_in("recovered")} == {200}
    assert len(load.came_in("recovered")) > CLIENTS


async def test_sigterm_under_load(backend: Backend, tmp_path: Path) -> None:
    """SIGTERM under load completes every request in flight."""
    backend.start()
    with service(service_env(backend), tmp_path) as server:
        load = Load(server.url + "/total")
        running = asyncio.ensure_future(load.run())
        await asyncio.sleep(2)
        load.phase = "after SIGTERM"
        server.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.process.wait, 15)
        load.stopping = True
        await running

    # Every request sent before the signal was answered in full, with the exact total.
    before = load.sent_in("start")
    assert len(before) > CLIENTS
    assert {a.status for a in before} == {200}
    assert all(a.body == TOTAL for a in before)
    # Sent after it: answered in full, or refused by a closed listener (status None);
    # never a partial or wrong answer.
    after = load.sent_in("after SIGTERM")
    assert {a.status for a in after} <= {200, None}
    assert all(a.body == TOTAL for a in after if a.status == 200)
    assert exit_code == 0
