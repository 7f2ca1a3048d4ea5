"""Acceptance 2 of issue 12, the token half: with ``token_password``, the user's hub API
token typed as the password logs in as that user; another user's token, a wrong token, or
any password to a service without the flag, is refused."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import JupyterHub, KeyPair
from jupyssh_harness.openssh import pinned_argv

from jupyssh.bridge.server import BridgeConfig
from jupyssh.core.server import ServerConfig
from jupyssh.hub import HubOptions, HubServer, HubService

from .conftest import COMMAND_TIMEOUT, HubEndpoint

#: ssh options that make OpenSSH type a password (from SSH_ASKPASS), and nothing else.
PASSWORD_ONLY = {
    "BatchMode": "no",
    "PreferredAuthentications": "password",
    "PubkeyAuthentication": "no",
    "NumberOfPasswordPrompts": "1",
}


@pytest.fixture(scope="module")
def token_endpoint(
    hub: JupyterHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubEndpoint]:
    """jupyssh-hub with ``token_password`` on."""
    workdir = tmp_path_factory.mktemp("jupyssh-hub-token")
    service = HubService(api_url=hub.api_url, token=hub.service_token, proxy_url=hub.url)
    config = ServerConfig(host_key=workdir / "host_key")
    options = HubOptions(token_password=True)
    with HubServer(service, config, BridgeConfig(), options) as server:
        server.start()
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n", encoding="ascii")
        yield HubEndpoint(server.address[1], known_hosts)


def _with_password(
    endpoint: HubEndpoint, user: str, password: str, identity: Path, tmp_path: Path
) -> subprocess.CompletedProcess[bytes]:
    """``ssh USER@… whoami`` typing ``password`` through SSH_ASKPASS (never in argv)."""
    askpass = tmp_path / "askpass"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$HUB_TEST_PASSWORD"\n', encoding="ascii")
    askpass.chmod(0o700)
    env = dict(
        os.environ,
        SSH_ASKPASS=str(askpass),
        SSH_ASKPASS_REQUIRE="force",
        HUB_TEST_PASSWORD=password,
    )
    argv = pinned_argv(
        "ssh", endpoint.known_hosts, identity, port=endpoint.port, options=PASSWORD_ONLY
    )
    return subprocess.run(
        [*argv, "-T", f"{user}@127.0.0.1", "whoami"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def test_a_users_own_token_logs_in_as_that_user(
    hub: JupyterHub, token_endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    hub.start_server("alice")

    result = _with_password(
        token_endpoint, "alice", hub.user_token("alice"), user_keys["alice"].private_key, tmp_path
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"alice\n"


def test_another_users_token_or_a_wrong_one_is_refused_with_one_line(
    hub: JupyterHub, token_endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    hub.start_server("alice")
    identity = user_keys["alice"].private_key

    bobs = _with_password(token_endpoint, "alice", hub.user_token("bob"), identity, tmp_path)
    wrong = _with_password(token_endpoint, "alice", "0" * 32, identity, tmp_path)

    for result in (bobs, wrong):
        assert result.returncode == 255
        assert result.stdout == b""
        stderr = result.stderr.decode()
        assert "jupyssh-hub: the hub did not accept that token for alice" in stderr
        assert "Permission denied" in stderr


def test_without_the_flag_no_password_is_asked_for(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    hub.start_server("alice")

    result = _with_password(
        endpoint, "alice", hub.user_token("alice"), user_keys["alice"].private_key, tmp_path
    )

    assert result.returncode == 255
    assert b"Permission denied (publickey)" in result.stderr
