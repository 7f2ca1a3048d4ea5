"""The bridge as users run it (``jupyssh bridge serve`` in a subprocess): who gets in, a
host key that survives a restart, and kernels that never outlive their connection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, KeyPair, generate_keypair, read_announcement

from .conftest import BridgeEndpoint, kernel_ids, write_authorized_keys

pytestmark = [
    pytest.mark.integration,
]


class ServeProcess:
    """``jupyssh bridge serve`` in a subprocess, token in its environment (never argv)."""

    def __init__(
        self,
        jupyter: JupyterServer,
        workdir: Path,
        port: int = 0,
        *,
        env: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        env = dict(os.environ, JUPYTER_TOKEN=jupyter.token, **(env or {}))
        self.log = workdir / f"serve-{time.monotonic_ns()}.log"
        log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("jupyssh")),
                "bridge",
                "serve",
                "--json",
                "--jupyter-url",
                jupyter.url,
                "--listen",
                f"127.0.0.1:{port}",
                "--authorized-keys",
                str(workdir / "authorized_keys"),
                "--host-key",
                str(workdir / "host_key"),
                *options,
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,  # a file: a full pipe must never stall the server
        )
        log.close()
        try:
            self.facts = read_announcement(self.proc, log=self.log)
        except BaseException:
            self.stop()
            raise
        self.port = int(self.facts["listen"].rsplit(":", 1)[1])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


@pytest.fixture
def workdir(tmp_path: Path, keypair: KeyPair) -> Path:
    write_authorized_keys(tmp_path / "authorized_keys", keypair)
    return tmp_path


@pytest.fixture
def served(jupyter_server: JupyterServer, workdir: Path) -> Iterator[ServeProcess]:
    serve = ServeProcess(jupyter_server, workdir)
    try:
        yield serve
    finally:
        serve.stop()


def _endpoint(serve: ServeProcess, workdir: Path, keypair: KeyPair) -> BridgeEndpoint:
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"{serve.facts['known_hosts']}\n", encoding="ascii")
    return BridgeEndpoint(serve.port, known_hosts, keypair)


def test_a_wrong_key_is_refused(served: ServeProcess, workdir: Path, keypair: KeyPair) -> None:
    stranger = generate_keypair(workdir / "stranger")
    endpoint = _endpoint(served, workdir, keypair)
    result = endpoint.run("echo in", identity=stranger.private_key, timeout=60)
    assert result.returncode == 255
    assert b"Permission denied (publickey)" in result.stderr
    assert result.stdout == b""


def test_none_auth_is_refused(served: ServeProcess, workdir: Path, keypair: KeyPair) -> None:
    endpoint = _endpoint(served, workdir, keypair)
    argv = endpoint.argv("echo in")
    argv[1:1] = ["-o", "PreferredAuthentications=none", "-o", "PubkeyAuthentication=no"]
    result = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert result.returncode == 255
    assert b"Permission denied" in result.stderr


def test_the_host_key_survives_a_restart(
    jupyter_server: JupyterServer, workdir: Path, keypair: KeyPair
) -> None:
    first = ServeProcess(jupyter_server, workdir)
    try:
        endpoint = _endpoint(first, workdir, keypair)  # pins the first run's key
        assert endpoint.run("echo one", timeout=120).stdout == b"one\n"
    finally:
        assert first.stop() == 0
    second = ServeProcess(jupyter_server, workdir, port=first.port)
    try:
        assert second.facts["known_hosts"] == first.facts["known_hosts"]
        result = endpoint.run("echo two", timeout=120)  # StrictHostKeyChecking=yes
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"two\n"
    finally:
        assert second.stop() == 0


def test_a_client_killed_mid_session_leaves_no_kernel(
    served: ServeProcess, workdir: Path, keypair: KeyPair, jupyter_server: JupyterServer
) -> None:
    endpoint = _endpoint(served, workdir, keypair)
    before = kernel_ids(jupyter_server)
    with subprocess.Popen(
        endpoint.argv("echo started; sleep 300"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as client:
        assert client.stdout is not None
        assert client.stdout.readline() == b"started\n"
        during = kernel_ids(jupyter_server) - before
        assert len(during) == 1
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=10)
    deadline = time.monotonic() + 10
    while kernel_ids(jupyter_server) & during and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not kernel_ids(jupyter_server) & during, "the kernel outlived its client by 10 s"


def test_a_kernel_is_deleted_when_its_connection_ends(
    served: ServeProcess, workdir: Path, keypair: KeyPair, jupyter_server: JupyterServer
) -> None:
    endpoint = _endpoint(served, workdir, keypair)
    before = kernel_ids(jupyter_server)
    assert endpoint.run("true", timeout=120).returncode == 0
    deadline = time.monotonic() + 10
    while kernel_ids(jupyter_server) - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kernel_ids(jupyter_server) - before == set()


def test_no_extensions_means_the_kernel_runs_the_pure_reader(
    jupyter_server: JupyterServer, workdir: Path, keypair: KeyPair
) -> None:
    """Issue 15 item 5: with JUPYSSH_NO_EXTENSIONS=1 the bridge ships no compiled reader
    (the kernel, whose Python matches the bridge's, would load it: see test_bridge_exec),
    the kernel maps no reader module, and the reader reported is the kernel's: pure."""
    serve = ServeProcess(
        jupyter_server, workdir, env={"JUPYSSH_NO_EXTENSIONS": "1"}, options=("-v",)
    )
    try:
        assert serve.facts["reader"] == "pure"
        endpoint = _endpoint(serve, workdir, keypair)
        # $PPID is the kernel: its memory maps list every module it loaded
        result = endpoint.run("grep -c '/_reader[.]' /proc/$PPID/maps; echo done", timeout=120)
        assert result.stdout == b"0\ndone\n", result.stderr
    finally:
        assert serve.stop() == 0
    log = serve.log.read_text(errors="replace")
    assert "it runs the pure reader (pure; pure asked)" in log
