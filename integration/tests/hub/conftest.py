"""Fixtures of jupyssh-hub's integration tests: a real JupyterHub (``containers/hub``) with
users alice, bob and carol, the ``jupyssh`` service's token, per-user tokens and keys, and
jupyssh-hub serving it in this process with OpenSSH's ``ssh`` pinned to it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyssh_harness import (
    HUB_USERS,
    BuiltImage,
    JupyterHub,
    KeyPair,
    generate_keypair,
    start_jupyterhub,
    stream_random,
)
from jupyssh_harness.openssh import Program, pinned_argv

from jupyssh.bridge.server import BridgeConfig
from jupyssh.core.server import ServerConfig
from jupyssh.hub import HubServer, HubService

COMMAND_TIMEOUT = 120.0


@pytest.fixture(scope="session")
def hub_image(harness_images: dict[str, BuiltImage]) -> str:
    return harness_images["hub"].tag


@pytest.fixture(scope="module")
def hub(hub_image: str) -> Iterator[JupyterHub]:
    """A running hub, shared by the module: tests start servers, and stop what they change."""
    with start_jupyterhub(hub_image) as running:
        yield running


@dataclass(frozen=True)
class HubEndpoint:
    """Where jupyssh-hub listens, and OpenSSH's ``ssh`` pinned to it."""

    port: int
    known_hosts: Path

    def argv(self, program: Program, identity: Path) -> list[str]:
        """``PROGRAM`` pinned to this endpoint with ``identity`` only (no destination)."""
        return pinned_argv(program, self.known_hosts, identity, port=self.port)

    def ssh_argv(self, user: str, identity: Path, *remote: str) -> list[str]:
        """``ssh -T … USER@127.0.0.1 REMOTE…``."""
        return [*self.argv("ssh", identity), "-T", f"{user}@127.0.0.1", *remote]

    def run(
        self, user: str, identity: Path, *remote: str, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[bytes]:
        """``ssh -T USER@127.0.0.1 REMOTE…`` with ``identity`` only."""
        argv = self.ssh_argv(user, identity, *remote)
        return subprocess.run(argv, input=b"", capture_output=True, timeout=timeout, check=False)

    def transfer(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run an sftp, scp or rsync argv (bounded), its output as text."""
        return subprocess.run(
            argv, input="", capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )


def write_file(hub: JupyterHub, user: str, name: str, text: str) -> None:
    """Write ``text`` to ``~/NAME`` of ``user``, as that user."""
    hub.exec(["sh", "-c", 'printf "%s" "$2" > "$1"', "sh", f"/home/{user}/{name}", text], user=user)


def stream_sha256(endpoint: HubEndpoint, user: str, identity: Path, size: int) -> tuple[str, int]:
    """``head -c SIZE /dev/urandom`` in ``user``'s server, hashed on both sides (the server's
    side on stderr); asserts both digests agree and returns it and the bytes received."""
    stream = stream_random(lambda command: endpoint.ssh_argv(user, identity, command), size)
    assert stream.status == 0, stream.stderr.decode()
    assert stream.remote_digest == stream.digest
    return stream.remote_digest, stream.received


def authorize(hub: JupyterHub, user: str, keypair: KeyPair) -> None:
    """Write ``keypair``'s public key as ``user``'s ~/.ssh/authorized_keys, as that user."""
    hub.authorize(user, keypair.public_line)


@pytest.fixture(scope="module")
def user_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """An ed25519 keypair of each hub user's own."""
    return {
        user: generate_keypair(tmp_path_factory.mktemp(f"{user}-key"), comment=user)
        for user in HUB_USERS
    }


@pytest.fixture(scope="module")
def hub_server(hub: JupyterHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """jupyssh-hub in this process on 127.0.0.1, as the hub's ``jupyssh`` service."""
    workdir = tmp_path_factory.mktemp("jupyssh-hub")
    service = HubService(api_url=hub.api_url, token=hub.service_token, proxy_url=hub.url)
    config = ServerConfig(host_key=workdir / "host_key", max_connections=64)
    with HubServer(service, config, BridgeConfig()) as server:
        server.start()
        yield server


@pytest.fixture(scope="module")
def endpoint(hub_server: HubServer, tmp_path_factory: pytest.TempPathFactory) -> HubEndpoint:
    known_hosts = tmp_path_factory.mktemp("hub-client") / "known_hosts"
    known_hosts.write_text(hub_server.known_hosts_line() + "\n", encoding="ascii")
    return HubEndpoint(hub_server.address[1], known_hosts)
