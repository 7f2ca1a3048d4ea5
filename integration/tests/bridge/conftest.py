"""Fixtures of jupyssh-bridge's integration tests: the bridge (in this process, or as a
``jupyssh bridge serve`` subprocess) in front of the real ``jupyter_server`` container, and
OpenSSH's own ``ssh`` pointed at it with the bridge's host key pinned
(``StrictHostKeyChecking=yes``), in BatchMode, with the test keypair.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, KeyPair
from jupyssh_harness.openssh import pinned_options

from jupyssh.bridge.server import MAX_CHANNELS, BridgeConfig, BridgeServer
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import MaxStartups, ServerConfig

COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class BridgeEndpoint:
    """Where a bridge listens, and OpenSSH client options that trust it."""

    port: int
    known_hosts: Path
    keypair: KeyPair

    def options(
        self,
        *,
        identity: Path | None = None,
        control_path: Path | None = None,
        control_master: str = "no",
    ) -> list[str]:
        """OpenSSH options for this bridge (ssh keeps the first value of each option, so
        every choice is made here): no connection sharing unless ``control_path`` names
        a socket, which ``control_master="yes"`` creates and ``"no"`` uses."""
        return pinned_options(
            self.known_hosts,
            identity or self.keypair.private_key,
            port=self.port,
            options={"ControlMaster": control_master, "ControlPath": str(control_path or "none")},
        )

    def argv(self, *remote: str, tty: bool = False, identity: Path | None = None) -> list[str]:
        """``ssh … 127.0.0.1 REMOTE…`` (``-tt`` with ``tty``)."""
        return [
            "ssh",
            *(["-tt"] if tty else ["-T"]),
            *self.options(identity=identity),
            "jupyter@127.0.0.1",
            *remote,
        ]

    def run(
        self,
        *remote: str,
        input: bytes | None = None,
        tty: bool = False,
        timeout: float = COMMAND_TIMEOUT,
        identity: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.argv(*remote, tty=tty, identity=identity),
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )


def write_authorized_keys(path: Path, keypair: KeyPair) -> Path:
    path.write_text(keypair.public_line + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


def pin_host_key(server: BridgeServer, known_hosts: Path) -> None:
    known_hosts.write_text(server.known_hosts_line() + "\n", encoding="ascii")


@pytest.fixture(scope="module")
def bridge_server(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeServer]:
    """A bridge in this process on 127.0.0.1 (shared by the module)."""
    workdir = tmp_path_factory.mktemp("bridge")
    authorized = write_authorized_keys(workdir / "authorized_keys", keypair)
    config = ServerConfig(  # tests open 20 connections at once from 127.0.0.1; 100
        # forwards at once on one connection run with the bridge's shipped default
        host_key=workdir / "host_key",
        authorized_keys=authorized,
        max_channels=MAX_CHANNELS,
        max_connections=64,
        max_startups=MaxStartups(64, 100, 64),
        max_startups_per_source=64,
    )
    client = JupyterClient(jupyter_server.url, token=jupyter_server.token)
    server = BridgeServer(client, config, BridgeConfig())
    with server:
        server.start()
        yield server


@pytest.fixture(scope="module")
def bridge(
    bridge_server: BridgeServer, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> BridgeEndpoint:
    known_hosts = tmp_path_factory.mktemp("bridge-client") / "known_hosts"
    pin_host_key(bridge_server, known_hosts)
    return BridgeEndpoint(bridge_server.address[1], known_hosts, keypair)


def kernel_ids(server: JupyterServer) -> set[str]:
    """The ids of every kernel running on ``server`` now."""

    async def _list() -> set[str]:
        async with JupyterClient(server.url, token=server.token) as client:
            return {kernel["id"] for kernel in await client.list_kernels()}

    return asyncio.run(_list())


def lines(data: bytes) -> Sequence[str]:
    return data.decode("utf-8", "replace").splitlines()


class Tmux:
    """A private tmux server (its own socket) with one window running ``command``."""

    def __init__(self, socket: Path, command: str, cols: int, rows: int) -> None:
        self.socket = socket
        self.run("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows), command)

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t", "-S", "-100")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never matched; it shows:\n{screen}")

    def pane_size(self) -> tuple[int, int]:
        text = self.run("display-message", "-p", "-t", "t", "#{pane_height} #{pane_width}")
        rows, cols = text.split()
        return int(rows), int(cols)

    def check_stty_follows_resize(self) -> None:
        """``stty size`` in the window's shell shows the pane's size, and the new size
        after the window is resized (pty-req, then window-change)."""
        rows, cols = self.pane_size()
        self.keys("stty size", "Enter")
        self.wait_for(lambda s: f"{rows} {cols}" in s)

        self.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
        new_rows, new_cols = self.pane_size()
        assert (new_rows, new_cols) != (rows, cols)
        self.keys("clear; stty size", "Enter")
        self.wait_for(lambda s: f"{new_rows} {new_cols}" in s)

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )


@contextlib.contextmanager
def ssh_in_tmux(endpoint: BridgeEndpoint, workdir: Path) -> Iterator[tuple[Tmux, Path]]:
    """``ssh -tt`` to ``endpoint`` in a 100x30 tmux window; yields the tmux server and
    the file that receives ssh's exit status once it ends."""
    status_file = workdir / "status"
    ssh = shlex.join(endpoint.argv(tty=True))
    command = f"TERM=xterm-256color {ssh}; echo $? > {shlex.quote(str(status_file))}"
    tmux = Tmux(workdir / "tmux.sock", f"sh -c {shlex.quote(command)}", 100, 30)
    try:
        yield tmux, status_file
    finally:
        tmux.kill()
