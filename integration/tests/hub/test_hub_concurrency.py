"""Acceptance 6 of issue 12: 30 concurrent sessions across three users each get their own
output, from ``jupyssh hub serve`` run as the hub's service (its token and API URL in the
environment, as a hub gives them); the service's peak RSS is reported."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from jupyssh_harness import HUB_USERS, JupyterHub, KeyPair, read_announcement

from .conftest import HubEndpoint, authorize

SESSIONS = 30


class ServiceProcess:
    """``jupyssh hub serve --json`` in a subprocess; its facts, and its RSS sampled."""

    def __init__(self, hub: JupyterHub, workdir: Path, *extra: str) -> None:
        env = dict(
            os.environ, JUPYTERHUB_API_TOKEN=hub.service_token, JUPYTERHUB_API_URL=hub.api_url
        )
        self.log = workdir / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("jupyssh")),
                    "hub",
                    "serve",
                    "--json",
                    "--listen",
                    "127.0.0.1:0",
                    "--host-key",
                    str(workdir / "host_key"),
                    "--max-connections",
                    "64",
                    "--max-startups",
                    "64:100:64",
                    "--max-startups-per-source",
                    "64",
                    *extra,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,  # a file: a full pipe must never stall the service
            )
        self.peak_rss = 0
        self._sampling = threading.Event()
        try:
            self.facts = read_announcement(self.proc, log=self.log)
        except BaseException:
            self.stop()
            raise

    def endpoint(self, workdir: Path) -> HubEndpoint:
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(self.facts["known_hosts"] + "\n", encoding="ascii")
        return HubEndpoint(int(self.facts["listen"].rsplit(":", 1)[1]), known_hosts)

    def sample_rss(self) -> threading.Thread:
        """Sample the service's RSS every 50 ms until :meth:`stop`."""
        process = psutil.Process(self.proc.pid)

        def sample() -> None:
            while not self._sampling.wait(0.05):
                try:
                    self.peak_rss = max(self.peak_rss, process.memory_info().rss)
                except psutil.NoSuchProcess:
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        return thread

    def stop(self) -> int:
        self._sampling.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=90)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


@pytest.fixture
def service(hub: JupyterHub, tmp_path: Path) -> Iterator[ServiceProcess]:
    running = ServiceProcess(hub, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(600)
def test_30_concurrent_sessions_across_three_users_each_get_their_own_output(
    hub: JupyterHub,
    service: ServiceProcess,
    user_keys: dict[str, KeyPair],
    tmp_path: Path,
) -> None:
    for user in HUB_USERS:
        hub.start_server(user)
        authorize(hub, user, user_keys[user])
    endpoint = service.endpoint(tmp_path)
    sampler = service.sample_rss()
    jobs = [(HUB_USERS[i % len(HUB_USERS)], i) for i in range(SESSIONS)]

    def one(job: tuple[str, int]) -> tuple[str, int, subprocess.CompletedProcess[bytes]]:
        user, number = job
        command = f"echo {number} $(whoami) $JUPYTERHUB_USER"
        return user, number, endpoint.run(user, user_keys[user].private_key, command, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        results = list(pool.map(one, jobs))
    status = service.stop()
    sampler.join(timeout=5)

    for user, number, result in results:
        assert result.returncode == 0, (user, number, result.stderr.decode())
        assert result.stdout.decode() == f"{number} {user} {user}\n"
    assert status == 0, service.log.read_text(errors="replace")[-2000:]
    peak_mb = service.peak_rss / 2**20
    print(f"\njupyssh hub serve: peak RSS {peak_mb:.1f} MiB over {SESSIONS} concurrent sessions")
    assert 0 < peak_mb < 512
