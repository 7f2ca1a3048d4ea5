"""Fixtures of the tunnel tests: an ssh host that also runs a Jupyter server
(``containers/jupyter-sshd``), a recording ``$BROWSER`` and a private ``JUPYSSH_HOME``.

The Jupyter server of ``jupyter_host`` listens on 127.0.0.1:8888 *inside* the container
only: nothing but ssh reaches it, as on a lab machine.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from jupyssh_harness import TEST_LABEL, BuiltImage, ExecResult, KeyPair, write_known_hosts
from jupyssh_harness.containers import (
    JUPYTER_PORT,
    LOOPBACK,
    SSH_PORT,
    SSH_USER,
    LoopbackContainer,
    exec_in,
    jupyter_sshd_container,
    published_port,
    ssh_container,
)
from jupyssh_harness.keys import generate_host_key
from jupyssh_harness.sshconfig import HostEntry, write_ssh_config

RUNTIME_DIR = "/home/sandbox/.local/share/jupyter/runtime"
#: Every jupyssh command of these tests ends well within this many seconds.
COMMAND_TIMEOUT_S = 120


@dataclass(frozen=True)
class JupyterHost:
    """The ``jupyter-sshd`` container reached as ``ssh -F config_file alias``."""

    alias: str
    config_file: Path
    token: str = field(repr=False)
    container: LoopbackContainer

    def exec(self, argv: list[str], *, user: str = "sandbox", check: bool = True) -> ExecResult:
        return exec_in(self.container, argv, user=user, check=check)

    def jupyter_processes(self) -> list[str]:
        """``pid args`` of every jupyter server process in the container."""
        out = self.exec(["ps", "-eo", "pid=,args="], user="root").stdout
        # `jupyter server` execs the `jupyter-server` script: one line per server process.
        return [line.strip() for line in out.splitlines() if "bin/jupyter-server" in line]

    def runtime_files(self) -> list[str]:
        done = self.exec(["ls", "-1", RUNTIME_DIR], check=False)
        return sorted(done.stdout.split())


@pytest.fixture(scope="session")
def jupyter_sshd_image(harness_images: dict[str, BuiltImage]) -> str:
    return harness_images["jupyter-sshd"].tag


def _wait_for_server(container: LoopbackContainer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = exec_in(
            container,
            ["sh", "-c", f"ls {RUNTIME_DIR}/jpserver-*.json"],
            user=SSH_USER,
            check=False,
        )
        if done.exit_code == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("the container's jupyter server wrote no runtime file in time")


@pytest.fixture(scope="module")
def jupyter_host(
    jupyter_sshd_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterHost]:
    workdir = tmp_path_factory.mktemp("jupyter-host")
    host_key = generate_host_key(workdir / "host-keys")
    token = secrets.token_hex(24)
    container = ssh_container(
        jupyter_sshd_image,
        authorized_key=keypair.public_line,
        host_keys_dir=host_key.private_key.parent,
        role_label=TEST_LABEL,
    ).with_env("JUPYTER_TOKEN", token)
    with ExitStack() as stack:
        stack.callback(container.stop)
        container.start()
        port = published_port(container, SSH_PORT)
        known_hosts = write_known_hosts(
            workdir / "known_hosts", [(LOOPBACK, port, host_key.public_blob)]
        )
        entry = HostEntry(
            alias="jupyssh-lab",
            hostname=LOOPBACK,
            port=port,
            user=SSH_USER,
            identity_file=keypair.private_key,
            known_hosts=known_hosts,
        )
        config = write_ssh_config(workdir / "ssh_config", [entry])
        _wait_for_server(container)
        yield JupyterHost("jupyssh-lab", config, token, container)


@dataclass(frozen=True)
class Browser:
    """A ``$BROWSER`` script that appends each URL it is handed to ``log``."""

    script: Path
    log: Path

    def urls(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def browser(tmp_path: Path) -> Browser:
    log = tmp_path / "browser.log"
    script = tmp_path / "record-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return Browser(script, log)


@dataclass(frozen=True)
class Jupyssh:
    """Runs the real ``jupyssh`` command with a private JUPYSSH_HOME and the browser."""

    env: dict[str, str]

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["jupyssh", *argv],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


@pytest.fixture
def jupyssh_home() -> Iterator[Path]:
    """A short private JUPYSSH_HOME: control sockets live there, and a Unix socket path
    (plus the suffix ssh adds while binding it) must stay under 108 bytes."""
    home = Path(tempfile.mkdtemp(prefix="jt-", dir="/tmp"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def jupyssh(jupyssh_home: Path, browser: Browser) -> Jupyssh:
    env = dict(os.environ)
    env["JUPYSSH_HOME"] = str(jupyssh_home)
    env["BROWSER"] = str(browser.script)
    env.pop("JUPYTER_TOKEN", None)
    return Jupyssh(env)


@dataclass(frozen=True)
class WebSocketServer:
    """The ``jupyter-sshd`` container with its Jupyter server published on 127.0.0.1: the
    sshd endpoint is ``sshd_url``; ``host_key_blob`` is jupyter-sshd-proxy's own host key."""

    sshd_url: str
    token: str = field(repr=False)
    host_key_blob: str
    container: LoopbackContainer


@pytest.fixture(scope="module")
def ws_server(
    jupyter_sshd_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebSocketServer]:
    workdir = tmp_path_factory.mktemp("ws-server")
    host_key = generate_host_key(workdir / "host-keys")
    container, token = jupyter_sshd_container(
        jupyter_sshd_image, keypair=keypair, host_key=host_key
    )
    with ExitStack() as stack:
        stack.callback(container.stop)
        container.start()
        _wait_for_server(container)
        # jupyter-sshd-proxy makes its host key when the server loads it.
        pub = exec_in(container, ["cat", "/home/sandbox/.ssh/jupyter_sshd_hostkey.pub"])
        blob = " ".join(pub.stdout.split()[:2])
        port = published_port(container, JUPYTER_PORT)
        yield WebSocketServer(f"http://{LOOPBACK}:{port}/sshd/", token, blob, container)
