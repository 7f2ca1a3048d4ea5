"""SSH over WebSocket, the gate alone: paths, tokens, the hand-over of the bytes, and the
rule that a WebSocket's connection logs in only as the user whose token opened it.

The SSH side here is a socket echo (``accept``), the hub a dict (``identify``): what is
tested is the gate's own logic; the real path (ssh, ws-proxy, the hub's proxy, the service)
is in integration/tests/hub/test_hub_websocket.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import paramiko
import pytest
from paramiko.common import AUTH_FAILED
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from jupyssh.core.errors import ConfigError, ServerConfigError
from jupyssh.core.server import Connection, ServerConfig
from jupyssh.hub import HubServer, HubService
from jupyssh.hub.server import HubPolicy, Lookup
from jupyssh.hub.websocket import (
    DEFAULT_PREFIX,
    WebSocketConfig,
    WebSocketGate,
    request_token,
    require_loopback,
    service_path,
    websocket_config,
)

TOKENS = {"a" * 32: "alice", "b" * 32: "bob"}


async def _identify(token: str) -> str | None:
    return TOKENS.get(token)


class _Echo:
    """``accept``: echo each socket's bytes back on a thread, remembering who opened it."""

    def __init__(self, refusal: str | None = None) -> None:
        self.openers: list[str] = []
        self.refusal = refusal

    def __call__(self, sock: socket.socket, peer: tuple[str, int], opener: str) -> str | None:
        if self.refusal is not None:
            return self.refusal
        self.openers.append(opener)
        threading.Thread(target=self._echo, args=(sock,), daemon=True).start()
        return None

    @staticmethod
    def _echo(sock: socket.socket) -> None:
        with sock:
            while data := sock.recv(65536):
                sock.sendall(data)


@pytest.fixture
def echo() -> _Echo:
    return _Echo()


@pytest.fixture
def gate(echo: _Echo) -> Iterator[WebSocketGate]:
    running = WebSocketGate(WebSocketConfig(), _identify, echo)
    running.start()
    yield running
    running.stop()


def _url(gate: WebSocketGate, path: str = DEFAULT_PREFIX) -> str:
    host, port = gate.address
    return f"ws://{host}:{port}{path}"


def _status(gate: WebSocketGate, token: str | None, path: str = DEFAULT_PREFIX) -> int:
    headers = {} if token is None else {"Authorization": f"token {token}"}
    with pytest.raises(InvalidStatus) as refused:
        connect(_url(gate, path), additional_headers=headers, open_timeout=10).close()
    return refused.value.response.status_code


def test_bytes_go_both_ways_whole_and_the_opener_is_known(gate: WebSocketGate, echo: _Echo) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    with connect(
        _url(gate), additional_headers={"Authorization": f"token {'a' * 32}"}, max_size=None
    ) as ws:
        received = bytearray()
        for start in range(0, len(payload), 200_000):
            ws.send(payload[start : start + 200_000])
        while len(received) < len(payload):
            message = ws.recv(timeout=10)
            assert isinstance(message, bytes)
            received += message

    assert bytes(received) == payload
    assert echo.openers == ["alice"]


def test_a_wrong_token_is_403_a_missing_one_401_a_wrong_path_404(
    gate: WebSocketGate, echo: _Echo
) -> None:
    assert _status(gate, "0" * 32) == 403
    assert _status(gate, None) == 401
    assert _status(gate, "a" * 32, "/services/other/") == 404
    assert echo.openers == []


def test_a_plain_request_is_told_what_this_is(gate: WebSocketGate) -> None:
    response = httpx.get(_url(gate).replace("ws://", "http://"), trust_env=False)

    assert response.status_code == 200
    assert "jupyssh tunnel ws-proxy" in response.text


def test_a_refused_hand_over_closes_the_websocket_with_the_reason() -> None:
    gate = WebSocketGate(WebSocketConfig(), _identify, _Echo(refusal="too many; try again"))
    gate.start()
    try:
        headers = {"Authorization": f"token {'b' * 32}"}
        with (
            connect(_url(gate), additional_headers=headers) as ws,
            pytest.raises(ConnectionClosedError, match="too many; try again"),
        ):
            ws.recv(timeout=10)
    finally:
        gate.stop()


def test_tokens_come_from_token_or_bearer_headers_only() -> None:
    assert request_token(Headers({"Authorization": "token abc"})) == "abc"
    assert request_token(Headers({"Authorization": "Bearer abc"})) == "abc"
    assert request_token(Headers({"Authorization": "Basic abc"})) is None
    assert request_token(Headers({"Authorization": "token "})) is None
    assert request_token(Headers()) is None


def test_the_listener_comes_from_the_option_or_the_hubs_environment() -> None:
    assert websocket_config({}) is None
    assert websocket_config({}, listen="127.0.0.1:8022") == WebSocketConfig(
        "127.0.0.1", 8022, DEFAULT_PREFIX
    )
    managed = {
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:8090",
        "JUPYTERHUB_SERVICE_PREFIX": "/services/ssh",
    }
    assert websocket_config(managed) == WebSocketConfig("127.0.0.1", 8090, "/services/ssh/")
    assert service_path("services/x") == "/services/x/"
    with pytest.raises(ConfigError):
        websocket_config({"JUPYTERHUB_SERVICE_URL": "https://hub.example"})
    with pytest.raises(ConfigError, match="--ws-listen 'nowhere'"):
        websocket_config({}, listen="nowhere")


def test_other_addresses_than_loopback_need_the_servers_permission(tmp_path: Path) -> None:
    require_loopback("127.0.0.1")
    require_loopback("::1")
    with pytest.raises(ServerConfigError):
        require_loopback("0.0.0.0")  # noqa: S104 - refused, never bound
    service = HubService(
        api_url="http://127.0.0.1:9/hub/api", token="s" * 48, proxy_url="http://127.0.0.1:9/"
    )
    with pytest.raises(ServerConfigError):
        HubServer(
            service,
            ServerConfig(host_key=tmp_path / "host_key"),
            websocket=WebSocketConfig(host="0.0.0.0"),  # noqa: S104
        )


def test_a_websockets_connection_logs_in_only_as_its_opener(tmp_path: Path) -> None:
    service = HubService(
        api_url="http://127.0.0.1:9/hub/api", token="s" * 48, proxy_url="http://127.0.0.1:9/"
    )
    with HubServer(service, ServerConfig(host_key=tmp_path / "host_key")) as server:
        asked: list[str] = []
        server.keys_of = lambda name, say: asked.append(name) or Lookup(())  # type: ignore[method-assign]
        connection = cast("Connection", SimpleNamespace(id=1))
        policy = HubPolicy(connection, server, opener="alice")
        said: list[str] = []
        policy.say = said.append  # type: ignore[method-assign]
        key = paramiko.Ed25519Key.from_private_key_file(_key_file(tmp_path))

        assert policy.check_auth_publickey("bob", key) == AUTH_FAILED
        assert policy.check_auth_publickey("bob", key) == AUTH_FAILED
        assert policy.check_auth_publickey("alice:gpu", key) == AUTH_FAILED

    assert asked == ["alice:gpu"]  # bob's keys were never looked up
    assert said[0] == "this connection came with alice's hub token: log in as alice"
    assert said.count(said[0]) == 1


def _key_file(tmp_path: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    path = tmp_path / "client_key"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
        )
    )
    return str(path)


def test_a_websocket_port_in_use_is_one_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    service = HubService(
        api_url="http://127.0.0.1:9/hub/api", token="s" * 48, proxy_url="http://127.0.0.1:9/"
    )
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = HubServer(
            service,
            ServerConfig(host_key=tmp_path / "host_key"),
            websocket=WebSocketConfig(port=port),
        )
        placeholder = server.config.authorized_keys
        assert placeholder is not None
        with pytest.raises(ServerConfigError, match="cannot listen for WebSockets"), server:
            pass

    assert not placeholder.exists()  # closed: its files, threads and listener are gone
