"""Acceptance 7 of issue 12: after the service stops, no kernel it started remains in any
user's server."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from jupyssh_harness import JupyterHub, KeyPair, wait_for

from jupyssh.bridge.server import BridgeConfig
from jupyssh.core.server import ServerConfig
from jupyssh.hub import HubOptions, HubServer, HubService

from .conftest import HubEndpoint, authorize

USERS = ("alice", "bob")


def _kernels(hub: JupyterHub, user: str) -> set[str] | None:
    """The ids of the kernels in ``user``'s server; None while Jupyter answers 5xx: its
    kernel list can fail while kernels are being deleted (the race of jupyter/notebook#5875
    and jupyter_server#748), which this test's service does, many at once."""
    response = httpx.get(
        hub.server_url(user) + "api/kernels",
        headers={"Authorization": f"token {hub.service_token}"},
        timeout=30,
        trust_env=False,
    )
    if response.is_server_error:
        return None
    response.raise_for_status()
    return {kernel["id"] for kernel in response.json()}


def _all_kernels(hub: JupyterHub, users: tuple[str, ...]) -> dict[str, set[str]] | None:
    """:func:`_kernels` of each user; None if any server answered 5xx."""
    found = {user: _kernels(hub, user) for user in users}
    return None if None in found.values() else found  # type: ignore[return-value]


def _listed(hub: JupyterHub, users: tuple[str, ...], timeout: float = 30) -> dict[str, set[str]]:
    """:func:`_all_kernels`, asked again while a server answers 5xx (bounded)."""
    deadline = time.monotonic() + timeout
    while (found := _all_kernels(hub, users)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the users' servers answered 5xx for {timeout:g} s")
        time.sleep(0.2)
    return found


@pytest.mark.parametrize("warm", [0, 1], ids=["no-warm-kernels", "one-warm-kernel"])
def test_stopping_the_service_ends_every_kernel_it_started(
    hub: JupyterHub, user_keys: dict[str, KeyPair], tmp_path: Path, warm: int
) -> None:
    for user in USERS:
        hub.start_server(user)
        authorize(hub, user, user_keys[user])
    before = _listed(hub, USERS)
    service = HubService(api_url=hub.api_url, token=hub.service_token, proxy_url=hub.url)
    config = ServerConfig(host_key=tmp_path / "host_key")
    server = HubServer(service, config, BridgeConfig(), HubOptions(warm_kernels=warm))
    clients: list[subprocess.Popen[bytes]] = []
    try:
        with server:
            server.start()
            known_hosts = tmp_path / "known_hosts"
            known_hosts.write_text(server.known_hosts_line() + "\n", encoding="ascii")
            endpoint = HubEndpoint(server.address[1], known_hosts)
            for user in USERS:
                argv = endpoint.ssh_argv(user, user_keys[user].private_key, "sleep 120")
                clients.append(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            # each session's kernel, and the warm ones once the user has logged in
            wait_for(
                lambda: (
                    (now := _all_kernels(hub, USERS)) is not None
                    and all(len(now[user] - before[user]) == 1 + warm for user in USERS)
                ),
                60,
                f"{1 + warm} kernel(s) of the service in each user's server",
            )
        # the with block closed the server while both sessions ran
        wait_for(
            lambda: (
                (now := _all_kernels(hub, USERS)) is not None
                and all(now[user] <= before[user] for user in USERS)
            ),
            30,
            "the service's kernels to be gone",
        )
    finally:
        for client in clients:
            client.kill()
            client.wait(timeout=30)


def test_a_user_past_their_connection_limit_is_refused_with_one_line(
    hub: JupyterHub, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    for user in USERS:
        hub.start_server(user)
        authorize(hub, user, user_keys[user])
    service = HubService(api_url=hub.api_url, token=hub.service_token, proxy_url=hub.url)
    config = ServerConfig(host_key=tmp_path / "host_key")
    server = HubServer(service, config, BridgeConfig(), HubOptions(max_per_user=1))
    with server:
        server.start()
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n", encoding="ascii")
        endpoint = HubEndpoint(server.address[1], known_hosts)
        alice = user_keys["alice"].private_key
        first = subprocess.Popen(
            endpoint.ssh_argv("alice", alice, "sleep 120"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: any(c.authenticated for c in server.connections),
                60,
                "alice's first connection to authenticate",
            )
            second = endpoint.run("alice", alice, "whoami")
            bob = endpoint.run("bob", user_keys["bob"].private_key, "whoami")
        finally:
            first.kill()
            first.wait(timeout=30)
        # the slot is free once the server has seen the first connection end
        wait_for(lambda: not server.connections, 30, "alice's first connection to end")
        again = endpoint.run("alice", alice, "whoami")

    assert second.returncode == 255
    assert "jupyssh-hub: alice has 1 connections open, the most allowed" in second.stderr.decode()
    assert bob.stdout == b"bob\n"
    assert again.stdout == b"alice\n", again.stderr.decode()
