"""jupyssh.core.server against the real OpenSSH client programs (no container needed).

Proves what paramiko-to-paramiko unit tests cannot: that the printed ``known_hosts`` line
and fingerprint are exactly what OpenSSH checks, that OpenSSH negotiates with the server
under ``StrictHostKeyChecking=yes``, that it is offered public keys only, and that exec
exit statuses and output arrive intact. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness.openssh import pinned_argv
from paramiko.channel import Channel
from paramiko.common import OPEN_SUCCEEDED

from jupyssh.core.server import ServerConfig, ServerPolicy, SSHServer

pytestmark = [
    pytest.mark.integration,
]


class ExecPolicy(ServerPolicy):
    """Session channels with exec only: ``exit N`` exits N, anything else echoes itself."""

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return super().check_channel_request(kind, chanid)

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        def run() -> None:
            status = 0
            if command.startswith(b"exit "):
                status = int(command.split()[1])
            elif command != b"true":
                channel.sendall(b"ran: " + command + b"\n")
            channel.send_exit_status(status)
            channel.shutdown_write()
            channel.close()

        # start the work once paramiko has answered the exec request, so the exit status
        # can never overtake that answer
        self.connection.after_request(lambda: threading.Thread(target=run).start())
        return True


class ExecServer(SSHServer):
    policy_class = ExecPolicy


def _keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    return _keygen(tmp_path / "id_ed25519")


@pytest.fixture
def server(tmp_path: Path, client_key: Path) -> Iterator[SSHServer]:
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    config = ServerConfig(host_key=tmp_path / "host_key", authorized_keys=authorized)
    with ExecServer(config) as running:
        running.start()
        yield running


@pytest.fixture
def known_hosts(tmp_path: Path, server: SSHServer) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(server.known_hosts_line() + "\n")
    return path


def ssh(
    server: SSHServer, key: Path, known_hosts: Path, command: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    host, port = server.address
    pinned = pinned_argv("ssh", known_hosts, key, port=port, options={"ConnectTimeout": "10"})
    argv = [*pinned, *extra, f"user@{host}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_openssh_runs_a_command_with_the_printed_known_hosts_line(
    server: SSHServer, client_key: Path, known_hosts: Path
) -> None:
    result = ssh(server, client_key, known_hosts, "true")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_exit_status_and_output_arrive(
    server: SSHServer, client_key: Path, known_hosts: Path
) -> None:
    assert ssh(server, client_key, known_hosts, "exit 7").returncode == 7
    result = ssh(server, client_key, known_hosts, "hello world")
    assert (result.returncode, result.stdout) == (0, "ran: hello world\n"), result.stderr


def test_exit_status_never_overtakes_the_exec_reply(
    server: SSHServer, client_key: Path, known_hosts: Path
) -> None:
    # Started from inside the exec hook instead of after_request, the worker's exit-status
    # and close beat paramiko's exec reply in a few percent of runs, and OpenSSH prints
    # "channel_input_status_confirm: 0: unknown" (seen with OpenSSH 9.2 and paramiko 5.1).
    for _ in range(20):
        result = ssh(server, client_key, known_hosts, "exit 3")
        assert (result.returncode, result.stderr) == (3, "")


def test_fingerprint_is_the_one_openssh_shows(
    server: SSHServer, client_key: Path, known_hosts: Path
) -> None:
    result = ssh(server, client_key, known_hosts, "true", "-v")
    assert result.returncode == 0, result.stderr
    assert f"Server host key: ssh-ed25519 {server.host_key_fingerprint()}" in result.stderr


def test_ssh_keyscan_prints_the_same_known_hosts_line(server: SSHServer) -> None:
    host, port = server.address
    result = subprocess.run(
        ["ssh-keyscan", "-p", str(port), "-t", "ed25519", host],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert lines == [server.known_hosts_line()]


def test_a_different_host_key_is_rejected_by_openssh(
    server: SSHServer, client_key: Path, tmp_path: Path
) -> None:
    impostor = _keygen(tmp_path / "impostor")
    wrong = tmp_path / "wrong_known_hosts"
    host, port = server.address
    line = impostor.with_suffix(".pub").read_text().split()
    wrong.write_text(f"[{host}]:{port} {line[0]} {line[1]}\n")
    result = ssh(server, client_key, wrong, "true")
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_unauthorized_key_is_refused_and_only_publickey_is_offered(
    server: SSHServer, known_hosts: Path, tmp_path: Path
) -> None:
    stranger = _keygen(tmp_path / "stranger")
    result = ssh(server, stranger, known_hosts, "true")
    assert result.returncode == 255
    assert "Permission denied (publickey)." in result.stderr
