"""BridgeServer end to end on 127.0.0.1 with paramiko's client, in front of an
in-process Jupyter (conftest.FakeJupyter): exec, the env policy, exit-signal, sftp missing,
kernels deleted. Seconds, no container."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.common import MSG_CHANNEL_REQUEST

from jupyssh.bridge import server as server_module
from jupyssh.bridge.errors import SFTPUnavailableError
from jupyssh.bridge.server import SFTP_MISSING, BridgeConfig, BridgeServer
from jupyssh.core.server import ServerConfig

TIMEOUT = 20.0


def make_server(tmp_path: Path, jupyter: Any, **bridge: Any) -> BridgeServer:
    config = ServerConfig(
        host_key=tmp_path / "host_key",
        authorized_keys=tmp_path / "no_keys",
        insecure_no_auth=True,  # loopback only; the auth is core's, tested there
    )
    bridge.setdefault("sftp", False)
    bridge.setdefault("reader", "pure")
    return BridgeServer(jupyter, config, BridgeConfig(**bridge))  # type: ignore[arg-type]


@pytest.fixture
def bridge(tmp_path: Path, jupyter: Any) -> Iterator[BridgeServer]:
    with make_server(tmp_path, jupyter) as server:
        server.start()
        yield server


@pytest.fixture
def client(bridge: BridgeServer, connect_client: Any) -> Iterator[paramiko.Transport]:
    with connect_client(bridge.address) as transport:
        yield transport


class Result:
    def __init__(self, channel: paramiko.Channel, timeout: float) -> None:
        started = time.monotonic()
        self.stdout = channel.makefile("rb").read()
        self.stderr = channel.makefile_stderr("rb").read()
        assert channel.status_event.wait(timeout), "no exit status"
        self.status = channel.exit_status
        self.seconds = time.monotonic() - started


def run(
    transport: paramiko.Transport,
    command: str,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Result:
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    for name, value in (env or {}).items():
        channel.set_environment_variable(name, value)
    channel.exec_command(command)
    channel.shutdown_write()
    try:
        return Result(channel, timeout)
    finally:
        channel.close()


def test_exec_keeps_streams_apart_and_returns_the_status(client: paramiko.Transport) -> None:
    result = run(client, "echo hi; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.status) == (b"hi\n", b"err\n", 3)


def test_accepted_env_reaches_the_command(client: paramiko.Transport) -> None:
    result = run(
        client, 'printf %s "$LC_JUPYSSH|${SECRET-unset}"', {"LC_JUPYSSH": "yes", "SECRET": "x"}
    )
    assert result.stdout == b"yes|unset"


@pytest.mark.parametrize(
    ("name", "value"),
    [("LC_A=B", "x"), ("LC_A", "x\0y"), ("LC_\0", "x")],
)
def test_finding_12_env_execve_cannot_take_is_refused_up_front(
    client: paramiko.Transport, name: str, value: str
) -> None:
    """Before: the agent's Popen raised ValueError, no reply came and the channel hung."""
    result = run(client, 'echo "ran ${LC_A-without LC_A}"', {name: value, "LC_OK": "1"}, timeout=10)
    assert (result.stdout, result.status) == (b"ran without LC_A\n", 0)


def test_finding_12_a_command_with_a_nul_ends_the_channel_promptly(
    client: paramiko.Transport,
) -> None:
    result = run(client, "echo a\0b", timeout=10)
    assert result.status == 1
    assert b"NUL byte" in result.stderr
    assert run(client, "echo after").stdout == b"after\n"  # the connection still works


def test_a_signal_is_reported_as_exit_signal_and_128_plus_n(client: paramiko.Transport) -> None:
    """As sshd: ``exit-signal`` names the signal; the status 128+n comes too (OpenSSH's
    ssh reads only that)."""
    requests: list[tuple[str, str]] = []
    handle = paramiko.Channel._handle_request

    def spy(channel: paramiko.Channel, message: paramiko.Message) -> None:
        position = message.packet.tell()
        kind = message.get_text()
        if kind == "exit-signal":
            message.get_boolean()  # want reply
            requests.append((kind, message.get_text()))
        message.packet.seek(position)
        handle(channel, message)

    # paramiko's client drops exit-signal: watch the requests its transport routes
    table = {**paramiko.Transport._channel_handler_table, MSG_CHANNEL_REQUEST: spy}
    client._channel_handler_table = table  # type: ignore[misc]
    result = run(client, "kill -TERM $$")
    assert result.status == 128 + 15
    assert requests == [("exit-signal", "TERM")]


def test_closing_the_connection_deletes_its_kernel(
    bridge: BridgeServer, client: paramiko.Transport, jupyter: Any, until: Callable[..., None]
) -> None:
    assert run(client, "true").status == 0
    assert len(jupyter.started) == 1
    client.close()
    until(lambda: jupyter.deleted == jupyter.started, what="the kernel's deletion")
    assert bridge.sessions == ()


def test_sftp_without_jupyssh_sftp_tells_the_client(
    tmp_path: Path, jupyter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "sftp_available", lambda: False)
    with make_server(tmp_path, jupyter, sftp=True) as server:
        server.start()
        transport = paramiko.Transport(server.address)
        try:
            transport.start_client(timeout=TIMEOUT)
            transport.auth_none("tester")
            channel = transport.open_session(timeout=TIMEOUT)
            channel.settimeout(TIMEOUT)
            channel.invoke_subsystem("sftp")
            result = Result(channel, TIMEOUT)
        finally:
            transport.close()
            transport.join(5)
    assert result.status == 1
    assert SFTP_MISSING.encode() in result.stderr
    assert b"jupyssh-bridge[sftp]" in result.stderr


def test_sftp_required_without_jupyssh_sftp_is_a_config_error(
    tmp_path: Path, jupyter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "sftp_available", lambda: False)
    with pytest.raises(SFTPUnavailableError, match=r"jupyssh-bridge\[sftp\]"):
        make_server(tmp_path, jupyter, sftp="require")


def test_no_sftp_asked_means_the_subsystem_is_refused(client: paramiko.Transport) -> None:
    channel = client.open_session(timeout=TIMEOUT)
    with pytest.raises(paramiko.SSHException):
        channel.invoke_subsystem("sftp")
