"""Three instances behind HAProxy (deploy/haproxy/haproxy.cfg), all real processes on
loopback, under 100 clients: a rolling restart loses no request, a killed instance as few
as the configuration allows, and the backend never sees two fetches of one instance at once.
`make cluster-test`, which installs HAProxy; marked `cluster`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.processes import LOOPBACK, PROJECT, ServerProcess, free_port, reference_backend

pytestmark = pytest.mark.cluster

HAPROXY_CONFIG = PROJECT / "deploy" / "haproxy" / "haproxy.cfg"
INSTANCES = 3
CLIENTS = 100
LOAD_SECONDS = 30.0
COUNT = 1000
EXPECTED = b'{"total":%d}' % sum(range(COUNT))
# Two failed checks a second apart take a draining instance out of rotation (haproxy.cfg).
DRAIN_SECONDS = "3"


@dataclass
class Cluster:
    backend: ServerProcess
    log_dir: Path
    url: str
    stats_url: str
    ports: list[int]
    instances: dict[int, ServerProcess] = field(default_factory=dict)
    restarts: int = 0

    def start(self, number: int) -> None:
        """Start instance `number` (1..3) on its port, as `python -m app`."""
        self.restarts += 1
        log_dir = self.log_dir / f"instance-{number}-{self.restarts}"
        log_dir.mkdir()
        env = {
            "NUMBERS_API_URL": f"{self.backend.url}/numbers?client=instance-{number}",
            "DRAIN_SECONDS": DRAIN_SECONDS,
        }
        self.instances[number] = ServerProcess(
            [sys.executable, "-m", "app"], env, log_dir, port=self.ports[number - 1], ready_path="/readyz"
        )

    def servers_up(self) -> set[str]:
        """The instances HAProxy sends requests to now, from its own metrics."""
        with urllib.request.urlopen(self.stats_url, timeout=2) as response:
            text = response.read().decode()
        return {
            line.split('server="')[1].split('"')[0]
            for line in text.splitlines()
            if line.startswith("haproxy_server_status{") and 'state="UP"' in line and line.endswith(" 1")
        }

    def wait_until_up(self, names: set[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not names <= self.servers_up():
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy does not see {names} up: {self.servers_up()}")
            time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "HAProxy is not installed: `make cluster-test` installs it"
    with ExitStack() as stack:
        backend = stack.enter_context(reference_backend(tmp_path, COUNT, delay=0.1))
        listen, stats = free_port(), free_port()
        cluster = Cluster(
            backend,
            tmp_path,
            f"http://{LOOPBACK}:{listen}",
            f"http://{LOOPBACK}:{stats}/metrics",
            [free_port() for _ in range(INSTANCES)],
        )
        for number in range(1, INSTANCES + 1):
            cluster.start(number)
        stack.callback(lambda: [instance.stop() for instance in cluster.instances.values()])
        env = {
            **os.environ,
            "LISTEN": f"{LOOPBACK}:{listen}",
            "STATS_LISTEN": f"{LOOPBACK}:{stats}",
            **{f"INSTANCE_{n}": f"{LOOPBACK}:{port}" for n, port in enumerate(cluster.ports, start=1)},
        }
        log = stack.enter_context((tmp_path / "haproxy.log").open("wb"))
        process = subprocess.Popen(
            [haproxy, "-db", "-f", str(HAPROXY_CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(process.wait, 10)
        stack.callback(process.terminate)
        deadline = time.monotonic() + 30
        while True:
            try:
                cluster.wait_until_up({f"instance-{n}" for n in range(1, INSTANCES + 1)})
                break
            except OSError:  # HAProxy is not listening yet
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp_path / "haproxy.log").read_text()) from None
                time.sleep(0.1)
        yield cluster


@dataclass
class Load:
    answers: int = 0
    failures: list[str] = field(default_factory=list)
    # Responses that ended after their headers: an instance killed while writing one.
    # HAProxy has passed the headers on by then, so it cannot send the request again.
    cut_short: list[str] = field(default_factory=list)


async def under_load(url: str, during: Callable[[], Coroutine[Any, Any, None]]) -> Load:
    """CLIENTS clients looping on GET `url` for LOAD_SECONDS, and for as long as `during` runs."""
    load = Load()
    started = time.monotonic()
    events = asyncio.create_task(during())

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() - started < LOAD_SECONDS or not events.done():
            try:
                async with session.get(url) as response:
                    body = await response.read()
                if (response.status, body.strip()) != (200, EXPECTED):
                    load.failures.append(f"{response.status} {body[:200]!r}")
            except aiohttp.ClientPayloadError as error:
                load.cut_short.append(repr(error))
            except aiohttp.ClientError as error:
                load.failures.append(repr(error))
            load.answers += 1

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
    await events
    return load


def backend_fetches(cluster: Cluster) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(cluster.backend.url + "/stats", timeout=2) as response:
        stats: dict[str, dict[str, int]] = json.load(response)
        return stats


def report(name: str, load: Load, cluster: Cluster) -> None:
    fetches = backend_fetches(cluster)
    print(
        f"{name}: {load.answers} requests through HAProxy, {len(load.failures)} failed, "
        f"{len(load.cut_short)} cut short after their headers; "
        f"backend fetches by instance: {json.dumps(fetches)}"
    )


def assert_one_fetch_at_a_time_per_instance(cluster: Cluster) -> None:
    fetches = backend_fetches(cluster)
    assert set(fetches) == {f"instance-{n}" for n in range(1, INSTANCES + 1)}
    assert all(stats["most_at_once"] == 1 for stats in fetches.values()), fetches


async def test_a_rolling_restart_loses_no_request(cluster: Cluster) -> None:
    def restart_each_in_turn() -> None:
        time.sleep(2)
        for number in range(1, INSTANCES + 1):
            assert cluster.instances[number].stop() == 0
            cluster.start(number)
            cluster.wait_until_up({f"instance-{n}" for n in range(1, INSTANCES + 1)})

    load = await under_load(cluster.url + "/total", lambda: asyncio.to_thread(restart_each_in_turn))
    report("rolling restart", load, cluster)
    assert cluster.restarts == 2 * INSTANCES
    assert load.failures == load.cut_short == []
    assert load.answers > CLIENTS
    assert_one_fetch_at_a_time_per_instance(cluster)


async def test_kill_fails_no_retriable_request(cluster: Cluster) -> None:
    """A killed instance fails no request that HAProxy can send again."""

    def kill_one() -> None:
        time.sleep(5)
        cluster.instances[2].process.kill()
        cluster.instances[2].process.wait()

    load = await under_load(cluster.url + "/total", lambda: asyncio.to_thread(kill_one))
    report("SIGKILL", load, cluster)
    assert load.failures == []
    # The kill is one instant: only a response being written then can be cut, at most one
    # per client (each has one request in flight). docs/operations.md says why.
    assert len(load.cut_short) <= CLIENTS, load.cut_short
    assert "instance-2" not in cluster.servers_up()
    assert_one_fetch_at_a_time_per_instance(cluster)
