"""``--backend terminals``: interactive shells served by the Jupyter server's terminals API
(``/api/terminals`` and terminado's WebSocket), commands still in the kernel.

Driven by OpenSSH's ``ssh -tt`` (scripted stdin, and inside tmux for a real terminal to
resize) against the real ``jupyter_server`` container (terminals enabled), and against a
second container of the same image started with ``terminals_enabled=False``.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, KeyPair, wait_for
from jupyssh_harness.containers import (
    JUPYTER_PORT,
    LOOPBACK,
    TEST_LABEL,
    jupyter_container,
    published_port,
)

from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.bridge.terminal import TERMINALS_DISABLED
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig

from .conftest import (
    BridgeEndpoint,
    Tmux,
    kernel_ids,
    pin_host_key,
    ssh_in_tmux,
    write_authorized_keys,
)

pytestmark = [pytest.mark.integration]

#: What OpenSSH's ssh exits with when the server sent no exit-status.
NO_EXIT_STATUS = 255


def _endpoint(
    url: str, token: str, keypair: KeyPair, workdir: Path
) -> tuple[BridgeServer, BridgeEndpoint]:
    authorized = write_authorized_keys(workdir / "authorized_keys", keypair)
    config = ServerConfig(host_key=workdir / "host_key", authorized_keys=authorized)
    server = BridgeServer(
        JupyterClient(url, token=token), config, BridgeConfig(backend="terminals")
    )
    return server, BridgeEndpoint(0, workdir / "known_hosts", keypair)


@pytest.fixture(scope="module")
def terminals_bridge(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeEndpoint]:
    """A bridge with ``--backend terminals`` in front of the shared Jupyter container."""
    workdir = tmp_path_factory.mktemp("bridge-terminals")
    server, endpoint = _endpoint(jupyter_server.url, jupyter_server.token, keypair, workdir)
    with server:
        server.start()
        pin_host_key(server, endpoint.known_hosts)
        yield BridgeEndpoint(server.address[1], endpoint.known_hosts, keypair)


def terminal_names(server: JupyterServer) -> set[str]:
    """The names of the terminals on ``server`` now (``GET /api/terminals``)."""

    async def _list() -> set[str]:
        async with JupyterClient(server.url, token=server.token) as client:
            return {terminal["name"] for terminal in await client.list_terminals()}

    return asyncio.run(_list())


def test_scripted_shell_runs_in_a_terminal(
    terminals_bridge: BridgeEndpoint, jupyter_server: JupyterServer
) -> None:
    before = terminal_names(jupyter_server)
    kernels_before = kernel_ids(jupyter_server)
    script = b"echo out-$((6*7)); tty; exit 7\n"
    result = subprocess.run(
        terminals_bridge.argv(tty=True), input=script, capture_output=True, timeout=120, check=False
    )
    text = result.stdout.decode("utf-8", "replace")
    assert "out-42" in text.replace("out-$((6*7))", ""), (text, result.stderr)
    assert "/dev/pts/" in text
    # a terminal reports no exit status, and the bridge does not invent one
    assert result.returncode == NO_EXIT_STATUS, (text, result.stderr)
    # the shell ran in a terminal, not in a kernel; and its terminal is gone
    assert kernel_ids(jupyter_server) == kernels_before
    wait_for(lambda: terminal_names(jupyter_server) <= before, 10, "terminal cleanup")


def test_exec_on_the_terminals_backend_still_runs_in_the_kernel(
    terminals_bridge: BridgeEndpoint, jupyter_server: JupyterServer
) -> None:
    before = terminal_names(jupyter_server)
    result = terminals_bridge.run("echo hi; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, b"hi\n", b"err\n")
    # a command with a PTY is still a command: the kernel runs it, with its exit status
    result = terminals_bridge.run("stty size >/dev/null && exit 5", tty=True)
    assert result.returncode == 5, result.stderr
    assert terminal_names(jupyter_server) == before


@pytest.fixture
def tmux_terminal(terminals_bridge: BridgeEndpoint, tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    with ssh_in_tmux(terminals_bridge, tmp_path) as session:
        yield session


def test_interactive_terminal_in_tmux(
    tmux_terminal: tuple[Tmux, Path], jupyter_server: JupyterServer
) -> None:
    tmux, status_file = tmux_terminal
    tmux.wait_for(lambda s: s.rstrip().endswith("$"))  # the terminal's prompt
    assert terminal_names(jupyter_server), "no terminal on the server during the session"

    tmux.check_stty_follows_resize()

    tmux.keys("echo typed-$((6*7))", "Enter")
    tmux.wait_for(lambda s: "typed-42" in s.replace("typed-$((6*7))", ""))

    tmux.keys("exit 7", "Enter")
    wait_for(status_file.exists, 30, "the end of ssh")
    assert status_file.read_text().strip() == str(NO_EXIT_STATUS)
    wait_for(lambda: not terminal_names(jupyter_server), 10, "terminal cleanup")


def test_killed_client_terminal_is_deleted(
    terminals_bridge: BridgeEndpoint, jupyter_server: JupyterServer
) -> None:
    before = terminal_names(jupyter_server)
    ssh = subprocess.Popen(
        terminals_bridge.argv(tty=True),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: bool(terminal_names(jupyter_server) - before), 30, "a terminal")
        ssh.kill()  # SIGKILL: no goodbye
        ssh.wait(30)
        started = time.monotonic()
        wait_for(lambda: terminal_names(jupyter_server) <= before, 10, "terminal deletion")
        assert time.monotonic() - started < 10
    finally:
        if ssh.poll() is None:
            ssh.kill()
            ssh.wait(30)
        for stream in (ssh.stdin, ssh.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def no_terminals_bridge(
    jupyter_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeEndpoint]:
    """A bridge with ``--backend terminals`` in front of a server without terminals."""
    token = secrets.token_hex(24)
    container = jupyter_container(jupyter_image, token=token, role_label=TEST_LABEL)
    container.with_command(["jupyter", "server", "--ServerApp.terminals_enabled=False"])
    container.start()
    try:
        url = f"http://{LOOPBACK}:{published_port(container, JUPYTER_PORT)}/"
        workdir = tmp_path_factory.mktemp("bridge-no-terminals")
        server, endpoint = _endpoint(url, token, keypair, workdir)
        with server:
            server.start()
            pin_host_key(server, endpoint.known_hosts)
            yield BridgeEndpoint(server.address[1], endpoint.known_hosts, keypair)
    finally:
        container.stop()


def test_server_without_terminals_fails_the_shell_clearly(
    no_terminals_bridge: BridgeEndpoint,
) -> None:
    result = subprocess.run(
        no_terminals_bridge.argv(tty=True),
        input=b"echo never\n",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 255
    assert TERMINALS_DISABLED.encode() in result.stderr.replace(b"\r\n", b"\n")
    assert b"never" not in result.stdout
    # commands do not need terminals
    result = no_terminals_bridge.run("echo fine")
    assert (result.returncode, result.stdout) == (0, b"fine\n")
