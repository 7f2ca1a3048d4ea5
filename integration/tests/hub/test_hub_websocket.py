"""Acceptance 5 of issue 12: SSH over WebSocket through the hub's own proxy.

The hub runs ``jupyssh hub serve`` as its managed ``jupyssh`` service (the project's wheels
installed in the hub's container, as an operator deploys it); its URL, under
``/services/jupyssh/`` of the hub's proxy, is the only way in: the test reaches no port but
the proxy's. ssh is OpenSSH's, configured with the block ``jupyssh tunnel ws-config``
prints, so its ProxyCommand is ``jupyssh tunnel ws-proxy`` with the user's hub API token in
an environment variable (never in argv).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import (
    HUB_SERVICE_PACKAGES,
    JupyterHub,
    KeyPair,
    start_jupyterhub,
    stream_random,
    write_known_hosts,
)
from jupyssh_harness.lab import build_project_wheels

from .conftest import COMMAND_TIMEOUT, authorize

ALIAS = "hub-ws"
SIZE = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def managed_hub(hub_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterHub]:
    """A hub whose own process runs jupyssh-hub as a managed service."""
    wheels = tmp_path_factory.mktemp("hub-service-wheels")
    build_project_wheels(wheels, HUB_SERVICE_PACKAGES)
    with start_jupyterhub(hub_image, wheels_dir=wheels) as running:
        yield running


@pytest.fixture(scope="module")
def ssh_config(managed_hub: JupyterHub, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ws-config``'s block for the service's URL, with the service's host key pinned."""
    done = subprocess.run(
        ["jupyssh", "tunnel", "ws-config", ALIAS, managed_hub.service_url,
         "--user", "alice", "--token-env", "HUB_TOKEN"],
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    workdir = tmp_path_factory.mktemp("hub-ws-client")
    known_hosts = write_known_hosts(
        workdir / "known_hosts", [(ALIAS, 22, managed_hub.service_host_key())]
    )
    config = workdir / "ssh_config"
    config.write_text(
        done.stdout
        + "    IdentitiesOnly yes\n"
        + f"    UserKnownHostsFile {known_hosts}\n"
        + "    GlobalKnownHostsFile /dev/null\n"
        + "    StrictHostKeyChecking yes\n"
        + "    BatchMode yes\n"
        + "    ControlPath none\n",
        encoding="ascii",
    )
    config.chmod(0o600)
    return config


@pytest.fixture(scope="module")
def running(managed_hub: JupyterHub, user_keys: dict[str, KeyPair]) -> dict[str, str]:
    """alice's and bob's servers running with their keys authorized; each user's token."""
    tokens = {}
    for user in ("alice", "bob"):
        authorize(managed_hub, user, user_keys[user])
        managed_hub.start_server(user)
        tokens[user] = managed_hub.user_token(user)
    return tokens


def _ssh(config: Path, identity: Path, destination: str, *remote: str) -> list[str]:
    return ["ssh", "-F", str(config), "-i", str(identity), "-T", destination, *remote]


def _env(token: str) -> dict[str, str]:
    return {**os.environ, "HUB_TOKEN": token}


def _run(argv: list[str], token: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv, input=b"", capture_output=True, env=_env(token), timeout=COMMAND_TIMEOUT,
        check=False,
    )  # fmt: skip


def test_ssh_through_the_hubs_proxy_is_the_users_server(
    ssh_config: Path, running: dict[str, str], user_keys: dict[str, KeyPair]
) -> None:
    for user in ("alice", "bob"):
        done = _run(
            _ssh(ssh_config, user_keys[user].private_key, f"{user}@{ALIAS}",
                 "whoami; echo $JUPYTERHUB_USER; echo to-stderr >&2; exit 3"),
            running[user],
        )  # fmt: skip

        assert done.returncode == 3, done.stderr.decode()
        assert done.stdout == f"{user}\n{user}\n".encode()
        assert b"to-stderr" in done.stderr
        assert b"to-stderr" not in done.stdout


def test_a_50_mb_stream_through_the_websocket_is_byte_exact(
    ssh_config: Path, running: dict[str, str], user_keys: dict[str, KeyPair]
) -> None:
    key = user_keys["alice"].private_key
    stream = stream_random(
        lambda command: _ssh(ssh_config, key, f"alice@{ALIAS}", command),
        SIZE,
        env=_env(running["alice"]),
    )

    assert stream.status == 0, stream.stderr.decode()
    assert stream.received == SIZE
    assert stream.remote_digest == stream.digest


def test_a_wrong_token_is_one_line_and_ssh_exits_255(
    managed_hub: JupyterHub,
    ssh_config: Path,
    running: dict[str, str],
    user_keys: dict[str, KeyPair],
) -> None:
    done = _run(
        _ssh(ssh_config, user_keys["alice"].private_key, f"alice@{ALIAS}", "whoami"), "0" * 32
    )

    assert done.returncode == 255
    assert done.stdout == b""
    ours = [line for line in done.stderr.decode().splitlines() if line.startswith("jupyssh:")]
    assert ours == [
        "jupyssh: error: the server refused the token (HTTP 403) "
        f"[{managed_hub.service_url.replace('http://', 'ws://')}]: check the token in the "
        "--token-env variable (a Jupyter server's token, or your hub API token for a hub "
        "service)"
    ]


def test_a_token_opens_the_way_for_its_own_user_only(
    ssh_config: Path, running: dict[str, str], user_keys: dict[str, KeyPair]
) -> None:
    # alice's token, bob's login with bob's own key: still refused, and told why
    done = _run(
        _ssh(ssh_config, user_keys["bob"].private_key, f"bob@{ALIAS}", "whoami"), running["alice"]
    )

    assert done.returncode == 255
    assert done.stdout == b""
    assert b"jupyssh-hub: this connection came with alice's hub token: log in as alice" in (
        done.stderr
    )


def test_sftp_through_the_websocket_sees_the_users_files(
    managed_hub: JupyterHub,
    ssh_config: Path,
    running: dict[str, str],
    user_keys: dict[str, KeyPair],
    tmp_path: Path,
) -> None:
    managed_hub.exec(["sh", "-c", "printf bobs > /home/bob/ws-note.txt"], user="bob")
    local = tmp_path / "ws-note.txt"
    done = subprocess.run(
        ["sftp", "-F", str(ssh_config), "-i", str(user_keys["bob"].private_key), "-b", "-",
         f"bob@{ALIAS}"],
        input=f"get ws-note.txt {local}\n".encode(), capture_output=True,
        env=_env(running["bob"]), timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    assert local.read_bytes() == b"bobs"
