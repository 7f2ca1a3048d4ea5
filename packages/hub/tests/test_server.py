"""The hub's SSH server before any hub answers: names refused without asking, nothing left
behind by a server that starts and stops."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL

from jupyssh.core.server import AuthorizedKey, Connection, ServerConfig
from jupyssh.hub import HubOptions, HubServer, HubService, UserBackend
from jupyssh.hub.server import MAX_QUESTIONS, HubPolicy, Lookup, no_key


def _server(tmp_path: Path) -> HubServer:
    # a hub API nobody serves: port 9 of the loopback (discard), never reached by these tests
    service = HubService(
        api_url="http://127.0.0.1:9/hub/api", token="s" * 48, proxy_url="http://127.0.0.1:9/"
    )
    return HubServer(service, ServerConfig(host_key=tmp_path / "host_key"))


@pytest.mark.parametrize("name", ["../alice", "alice/x", "", "a b"])
def test_a_name_that_is_no_hub_user_gets_no_key_without_asking_the_hub(
    tmp_path: Path, name: str
) -> None:
    with _server(tmp_path) as server:
        said: list[str] = []
        lookup = server.keys_of(name, said.append)

        assert lookup.keys == ()
        assert said == []


def test_public_keys_only_no_password_no_none(tmp_path: Path) -> None:
    with _server(tmp_path) as server:
        policy = HubPolicy(cast("Connection", SimpleNamespace(id=1)), server)

        assert policy.get_allowed_auths("alice") == "publickey"
        assert policy.check_auth_password("alice", "s" * 48) == AUTH_FAILED
        assert policy.check_auth_none("alice") == AUTH_FAILED
        assert policy.check_channel_direct_tcpip_request(0, ("a", 1), ("b", 2)) != 0


def test_a_server_that_started_and_stopped_leaves_no_file(tmp_path: Path) -> None:
    server = _server(tmp_path)
    placeholder = server.config.authorized_keys
    assert placeholder is not None
    assert "never kept" in placeholder.read_text()

    with server:
        server.start()

    assert not placeholder.exists()


def test_the_reason_given_never_says_whether_a_user_exists_nor_echoes_control_characters() -> None:
    assert "alice" in no_key("alice")
    assert "~/.ssh/authorized_keys" in no_key("alice")
    assert "\x1b" not in no_key("\x1b[2Jalice")


def test_one_connection_asks_the_hub_about_six_names_at_most(tmp_path: Path) -> None:
    with _server(tmp_path) as server:
        asked: list[str] = []
        server.keys_of = lambda name, say: asked.append(name) or Lookup(())  # type: ignore[method-assign]
        policy = HubPolicy(cast("Connection", SimpleNamespace(id=1)), server)
        policy.say = lambda line: None  # type: ignore[method-assign]
        key = _client_key()

        for number in range(10):
            assert policy.check_auth_publickey(f"user{number}", key) == AUTH_FAILED

    assert asked == [f"user{number}" for number in range(MAX_QUESTIONS)]


def _client_key() -> paramiko.PKey:
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def test_warm_kernels_start_only_once_someone_logged_in(tmp_path: Path) -> None:
    service = HubService(
        api_url="http://127.0.0.1:9/hub/api", token="s" * 48, proxy_url="http://127.0.0.1:9/"
    )
    config = ServerConfig(host_key=tmp_path / "host_key")
    with HubServer(service, config, options=HubOptions(warm_kernels=1)) as server:
        filled: list[str] = []
        pool = SimpleNamespace(warm=1, fill=lambda: filled.append("alice"))
        backend = UserBackend("alice", "http://127.0.0.1:9/user/alice/", None, pool, None)  # type: ignore[arg-type]
        server._users["alice"] = backend
        key = _client_key()
        allowed = AuthorizedKey(key.get_name(), key.asbytes())
        server.keys_of = lambda name, say: Lookup((allowed,))  # type: ignore[method-assign]
        connection = cast("Connection", _Connection())
        policy = HubPolicy(connection, server)
        policy.say = lambda line: None  # type: ignore[method-assign]

        try:
            assert policy.check_auth_publickey("alice", _client_key()) == AUTH_FAILED
            wait_for_loop(server)
            assert filled == []  # another key: no login, no warm kernel

            assert policy.check_auth_publickey("alice", key) == AUTH_SUCCESSFUL
            wait_for_loop(server)
            assert filled == ["alice"]
        finally:
            server._users.clear()  # the stand-in backend has nothing to close


def wait_for_loop(server: HubServer) -> None:
    """Return once the server's loop has run what was handed to it before."""

    async def nothing() -> None:
        return None

    server.io.submit(nothing()).result(5)


class _Connection:
    """What the policy uses of a connection (hashable: the server counts it in a set)."""

    id = 1
    transport = SimpleNamespace(get_username=lambda: "alice")

    def note_auth(self, method: str, fingerprint: str | None) -> None:
        pass
