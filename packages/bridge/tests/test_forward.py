"""Port forwarding through the bridge, end to end on 127.0.0.1 with paramiko's client in
front of the in-process Jupyter (conftest.FakeJupyter, whose agent opens real sockets):
direct-tcpip with half-close both ways, "connect failed" and "administratively
prohibited", many streams with one stalled, tcpip-forward and its cancel, the policy's
patterns. Seconds, no container."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.common import OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_FAILED_CONNECT_FAILED

from jupyssh.bridge.channel import IN_CHUNK
from jupyssh.bridge.forward import FORWARD_IN_CHUNK, ForwardChannel
from jupyssh.bridge.forwarding import ForwardingPolicy, Permit, parse_permits
from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.core.server import ServerConfig

TIMEOUT = 20.0


def make_server(tmp_path: Path, jupyter: Any, policy: ForwardingPolicy) -> BridgeServer:
    config = ServerConfig(
        host_key=tmp_path / "host_key",
        authorized_keys=tmp_path / "no_keys",
        insecure_no_auth=True,  # loopback only; the auth is core's, tested there
    )
    return BridgeServer(
        jupyter,  # type: ignore[arg-type]
        config,
        BridgeConfig(sftp=False, reader="pure", forwarding=policy),
    )


Connect = Callable[[ForwardingPolicy], contextlib.AbstractContextManager[paramiko.Transport]]


@pytest.fixture
def connected(tmp_path: Path, jupyter: Any, connect_client: Any) -> Connect:
    """A bridge with a forwarding policy, and a client connected to it."""

    @contextlib.contextmanager
    def _connected(policy: ForwardingPolicy) -> Iterator[paramiko.Transport]:
        with make_server(tmp_path, jupyter, policy) as server:
            server.start()
            with connect_client(server.address) as transport:
                yield transport

    return _connected


@pytest.fixture
def client(connected: Connect) -> Iterator[paramiko.Transport]:
    with connected(ForwardingPolicy()) as transport:
        yield transport


class Peer:
    """A TCP server on 127.0.0.1 (the "Jupyter host's" service): each connection is
    handled by ``serve`` on a thread of its own."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._one, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            self.serve(conn)

    def close(self) -> None:
        self.sock.close()


def recv_all(conn: socket.socket | paramiko.Channel) -> bytes:
    parts = []
    while chunk := conn.recv(1 << 16):
        parts.append(chunk)
    return b"".join(parts)


def hash_then_reply(conn: socket.socket) -> None:
    """Read to EOF, then send the SHA-256 of what came and a tail: half-close each way."""
    data = recv_all(conn)
    conn.sendall(hashlib.sha256(data).hexdigest().encode() + b" done")


def send_until_closed(conn: socket.socket) -> None:
    """32 MB, or less if the forward is closed first."""
    with contextlib.suppress(OSError):
        conn.sendall(b"x" * 32_000_000)


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer(hash_then_reply)
    yield server
    server.close()


def test_direct_tcpip_carries_bytes_and_half_close_both_ways(
    client: paramiko.Transport, peer: Peer
) -> None:
    channel = client.open_channel(
        "direct-tcpip", ("127.0.0.1", peer.port), ("127.0.0.1", 5555), timeout=TIMEOUT
    )
    channel.settimeout(TIMEOUT)
    data = os.urandom(3_000_000)
    channel.sendall(data)
    channel.shutdown_write()  # the client's EOF reaches the peer: it answers after it
    reply = recv_all(channel)
    assert reply == hashlib.sha256(data).hexdigest().encode() + b" done"
    channel.close()


def test_a_refused_connect_is_connect_failed(client: paramiko.Transport) -> None:
    unused = socket.create_server(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()
    with pytest.raises(paramiko.ChannelException) as caught:
        client.open_channel("direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 1), timeout=TIMEOUT)
    assert caught.value.code == OPEN_FAILED_CONNECT_FAILED


def test_policy_refusals_are_administratively_prohibited(connected: Connect, peer: Peer) -> None:
    policy = ForwardingPolicy("remote")
    with connected(policy) as transport:
        with pytest.raises(paramiko.ChannelException) as caught:
            transport.open_channel(
                "direct-tcpip", ("127.0.0.1", peer.port), ("127.0.0.1", 1), timeout=TIMEOUT
            )
        assert caught.value.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def test_permit_open_allows_only_what_it_names(connected: Connect, peer: Peer) -> None:
    policy = ForwardingPolicy(permit_open=parse_permits(["127.0.0.1:1"], listen=False))
    with connected(policy) as transport:
        with pytest.raises(paramiko.ChannelException) as caught:
            transport.open_channel(
                "direct-tcpip", ("127.0.0.1", peer.port), ("127.0.0.1", 1), timeout=TIMEOUT
            )
        assert caught.value.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def test_a_stalled_forward_does_not_slow_the_others(
    client: paramiko.Transport, tmp_path: Path
) -> None:
    """One forward receives a large stream and is not read; twenty others, opened after
    it filled every window on its way, each get their own bytes."""
    big = Peer(send_until_closed)
    echo = Peer(hash_then_reply)
    try:
        stalled = client.open_channel(
            "direct-tcpip", ("127.0.0.1", big.port), ("127.0.0.1", 1), timeout=TIMEOUT
        )
        assert stalled.recv(1)  # flowing; from here nobody reads it

        def one(n: int) -> bytes:
            channel = client.open_channel(
                "direct-tcpip", ("127.0.0.1", echo.port), ("127.0.0.1", 1), timeout=TIMEOUT
            )
            channel.settimeout(TIMEOUT)
            channel.sendall(f"stream {n}".encode())
            channel.shutdown_write()
            try:
                return recv_all(channel)
            finally:
                channel.close()

        results: dict[int, bytes] = {}
        threads = [
            threading.Thread(target=lambda n=n: results.__setitem__(n, one(n))) for n in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        for n in range(20):
            expected = hashlib.sha256(f"stream {n}".encode()).hexdigest().encode() + b" done"
            assert results.get(n) == expected
        stalled.close()
    finally:
        big.close()
        echo.close()


class GoneChannel:
    """A channel whose connection has just dropped: paramiko raises EOFError from any
    message it can no longer send, CLOSE included."""

    closed = False

    def sendall(self, data: bytes) -> None:
        raise EOFError

    def shutdown_write(self) -> None:
        raise EOFError

    def close(self) -> None:
        raise EOFError


def test_a_forward_whose_connection_is_gone_ends_quietly() -> None:
    """The writer thread meets a dropped connection: it asks the agent to kill the
    forward, and ends without an exception (CI once saw EOFError escape the CLOSE)."""
    session = _Posted()
    forward = ForwardChannel(_Inline(), session, 7)  # type: ignore[arg-type]
    forward.on_output(1, b"late bytes")
    forward.on_eof()
    forward.on_exit(0, None)
    forward._write_loop(GoneChannel())  # type: ignore[arg-type]
    assert forward.done
    assert [data for data, _ in session.posted] == [{"op": "kill", "ch": 7}]


def test_tcpip_forward_listens_on_loopback_and_opens_forwarded_channels(
    client: paramiko.Transport,
) -> None:
    accepted: list[paramiko.Channel] = []

    def handler(channel: paramiko.Channel, origin: Any, server: Any) -> None:
        accepted.append(channel)
        channel.sendall(b"from the client side")
        channel.shutdown_write()

    port = client.request_port_forward("", 0, handler=handler)
    assert port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.settimeout(TIMEOUT)
        assert recv_all(conn) == b"from the client side"
    assert len(accepted) == 1
    client.cancel_port_forward("", port)
    # paramiko waits for the server's answer, and the server answers once the listener
    # is closed: the port refuses at once, with no wait (CI once met a reset here).
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_tcpip_forward_refused_by_policy(connected: Connect) -> None:
    with (
        connected(ForwardingPolicy("local")) as transport,
        pytest.raises(paramiko.SSHException),
    ):
        transport.request_port_forward("", 0)


def test_permits_parse_as_openssh() -> None:
    assert parse_permits([], listen=False) is None
    assert parse_permits(["any"], listen=False) is None
    assert parse_permits(["none"], listen=True) == ()
    assert parse_permits(["host:80 *:443", "[::1]:*"], listen=False) == (
        Permit("host", 80),
        Permit("*", 443),
        Permit("::1", None),
    )
    assert parse_permits(["8080"], listen=True) == (Permit("*", 8080),)
    for bad in (["80"], ["host:"], ["host:0"], ["any", "host:1"]):
        with pytest.raises(ValueError, match=r"port|stand alone|host"):
            parse_permits(bad, listen=False)


def test_listen_permits_and_bind_addresses() -> None:
    policy = ForwardingPolicy(permit_listen=parse_permits(["localhost:8080 *.lab:*"], listen=True))
    assert policy.allows_listen("localhost", 8080)
    assert not policy.allows_listen("localhost", 0)  # any free port needs a * port
    assert policy.allows_listen("a.lab", 0)
    assert not policy.allows_listen("127.0.0.1", 8080)  # "localhost" is only itself
    assert ForwardingPolicy().bind_host("") == "127.0.0.1"
    assert ForwardingPolicy(gateway_ports=True).bind_host("") == "0.0.0.0"  # noqa: S104
    assert ForwardingPolicy(gateway_ports=True).bind_host("localhost") == "127.0.0.1"
    assert not ForwardingPolicy("none").allows_open("h", 1)
    assert not ForwardingPolicy("local").allows_listen("h", 1)


def test_a_kernel_that_cannot_start_fails_the_open_not_the_connection(
    tmp_path: Path, jupyter: Any, connect_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(name: str | None = None, **options: Any) -> dict[str, Any]:
        raise OSError("the Jupyter server is unreachable")

    monkeypatch.setattr(jupyter, "start_kernel", unreachable)
    with make_server(tmp_path, jupyter, ForwardingPolicy()) as server:
        server.start()
        with connect_client(server.address) as transport:
            with pytest.raises(paramiko.ChannelException) as caught:
                transport.open_channel(
                    "direct-tcpip", ("127.0.0.1", 1), ("127.0.0.1", 1), timeout=TIMEOUT
                )
            assert caught.value.code == OPEN_FAILED_CONNECT_FAILED
            with pytest.raises(paramiko.SSHException):
                transport.request_port_forward("", 0)
            assert transport.is_active()


class _Inline:
    """A loop stand-in that runs each call at once, on the caller's thread."""

    def call(self, callback: Callable[..., object], *args: Any) -> None:
        callback(*args)


class _Posted:
    """A session stand-in that keeps what the forward posts to the agent, and
    acknowledges each ``stdin`` at once, as an agent that wrote it would."""

    def __init__(self) -> None:
        self.posted: list[tuple[dict[str, Any], list[bytes]]] = []
        self.forward: ForwardChannel | None = None

    def post(self, data: dict[str, Any], buffers: Any = ()) -> None:
        self.posted.append((data, list(buffers)))
        if data["op"] == "stdin" and self.forward is not None:
            self.forward.on_stdin_ack(sum(len(b) for b in buffers))


class _Uploading:
    """A client channel holding ``pending`` bytes, then the client's EOF: ``recv``
    returns as much as asked, as paramiko's does from its buffer."""

    eof_received = True
    closed = False

    def __init__(self, pending: bytes) -> None:
        self.pending = pending
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def test_a_forward_sends_the_clients_bytes_in_large_messages() -> None:
    """Towards the agent a forward reads FORWARD_IN_CHUNK at once (a command's stdin:
    IN_CHUNK): each message costs the kernel a busy and an idle, so an upload goes in
    few of them, and the EOF follows the bytes."""
    sent = os.urandom(3 * FORWARD_IN_CHUNK + 5)
    session = _Posted()
    forward = session.forward = ForwardChannel(_Inline(), session, 7)  # type: ignore[arg-type]
    channel = _Uploading(sent)
    forward._read_loop(channel)  # type: ignore[arg-type]
    assert FORWARD_IN_CHUNK > IN_CHUNK
    assert set(channel.asked) == {FORWARD_IN_CHUNK}
    stdin = [buffers[0] for data, buffers in session.posted if data["op"] == "stdin"]
    assert [len(part) for part in stdin] == [FORWARD_IN_CHUNK] * 3 + [5]
    assert b"".join(stdin) == sent
    assert session.posted[-1][0] == {"op": "eof", "ch": 7}
