"""SSHServer end to end on 127.0.0.1:0 with paramiko's client: auth, deny-by-default,
limits, timeouts, hooks and shutdown."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import paramiko
import pytest
from paramiko.channel import Channel
from paramiko.common import (
    MSG_CHANNEL_SUCCESS,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_RESOURCE_SHORTAGE,
    OPEN_SUCCEEDED,
)
from paramiko.message import Message

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.server import (
    Connection,
    MaxStartups,
    ServerConfig,
    ServerPolicy,
    SSHServer,
)
from jupyssh.core.server.connection import ServerPacketizer

# --- fixtures ------------------------------------------------------------------------------


class Keys:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: dict[str, Path] = {}
        for name, kind, bits in [
            ("alice", "ed25519", None),
            ("intruder", "ed25519", None),
            ("ecdsa", "ecdsa", 256),
            ("rsa", "rsa", 2048),
        ]:
            path = folder / name
            argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name, "-f", str(path)]
            if bits:
                argv[2:2] = ["-b", str(bits)]
            subprocess.run(argv, check=True)
            self.paths[name] = path

    def pub(self, name: str) -> str:
        return self.paths[name].with_suffix(".pub").read_text()

    def pkey(self, name: str) -> paramiko.PKey:
        return paramiko.PKey.from_path(self.paths[name])

    def fingerprint(self, name: str) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.paths[name])],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.split()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("client-keys"))


@pytest.fixture
def authorized_keys(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "authorized_keys"
    path.write_text(keys.pub("alice") + keys.pub("ecdsa") + keys.pub("rsa"))
    path.chmod(0o600)
    return path


MakeServer = Callable[..., SSHServer]


@pytest.fixture(autouse=True)
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Supervisors check on their connection every 20 ms, not 200: a test's server then
    closes (it waits for each supervisor's current tick) in a tenth of the time."""
    monkeypatch.setattr(SSHServer, "tick", 0.02)


@pytest.fixture
def make_server(tmp_path: Path, authorized_keys: Path) -> Iterator[MakeServer]:
    servers: list[SSHServer] = []

    def make(cls: type[SSHServer] = SSHServer, **options: object) -> SSHServer:
        options.setdefault("host_key", tmp_path / "host_key")
        options.setdefault("authorized_keys", authorized_keys)
        server = cls(ServerConfig(**options))  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def clients() -> Iterator[list[paramiko.Transport]]:
    opened: list[paramiko.Transport] = []
    yield opened
    for transport in opened:
        transport.close()
        transport.join(2)


def connect(server: SSHServer, clients: list[paramiko.Transport]) -> paramiko.Transport:
    """A client transport past key exchange, with the server's host key verified."""
    transport = paramiko.Transport(server.address)
    clients.append(transport)
    transport.start_client(timeout=5)
    assert transport.get_remote_server_key().asbytes() == server.host_key.asbytes()
    return transport


def login(
    server: SSHServer, clients: list[paramiko.Transport], keys: Keys, name: str = "alice"
) -> paramiko.Transport:
    transport = connect(server, clients)
    transport.auth_publickey("alice", keys.pkey(name))
    assert transport.is_authenticated()
    return transport


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# --- policies used by the tests ----------------------------------------------------------------


class SessionPolicy(ServerPolicy):
    """Lets session channels open, nothing else."""

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return super().check_channel_request(kind, chanid)


class ExecPolicy(SessionPolicy):
    """``exit N`` exits with N, anything else prints itself and exits 0."""

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        def run() -> None:
            status = 0
            if command.startswith(b"exit "):
                status = int(command.split()[1])
            else:
                channel.sendall(b"ran " + command + b"\n")
            channel.send_exit_status(status)
            channel.shutdown_write()
            channel.close()

        self.connection.after_request(lambda: threading.Thread(target=run).start())
        return True


class SessionServer(SSHServer):
    policy_class = SessionPolicy


class ExecServer(SSHServer):
    policy_class = ExecPolicy


class SftpPolicy(SessionPolicy):
    allowed_subsystems: ClassVar[frozenset[str]] = frozenset({"sftp"})


class SftpServer(SSHServer):
    """Registers the SFTP handler the way jupyssh-sftp will, policy permitting."""

    policy_class = SessionPolicy

    def on_transport(self, transport: paramiko.Transport, connection: Connection) -> None:
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, paramiko.SFTPServerInterface)


class AllowedSftpServer(SftpServer):
    policy_class = SftpPolicy


# --- configuration ---------------------------------------------------------------------------


def test_listens_on_loopback_port_zero_and_reports_known_hosts(
    make_server: MakeServer,
) -> None:
    server = make_server()
    host, port = server.address
    assert host == "127.0.0.1"
    assert port > 0
    line = server.known_hosts_line()
    assert line == f"[127.0.0.1]:{port} ssh-ed25519 {server.host_key.get_base64()}"
    assert server.host_key_fingerprint().startswith("SHA256:")
    assert server.known_hosts_line("localhost").startswith(f"[localhost]:{port} ")


def test_host_key_is_reused_by_a_second_start(make_server: MakeServer, tmp_path: Path) -> None:
    first = make_server()
    fingerprint = first.host_key_fingerprint()
    first.close()
    assert (tmp_path / "host_key").stat().st_mode & 0o777 == 0o600
    assert make_server().host_key_fingerprint() == fingerprint


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": "0.0.0.0"}, "refusing to listen on a non-loopback address"),  # noqa: S104
        (
            {"host": "0.0.0.0", "allow_non_loopback": True, "insecure_no_auth": True},  # noqa: S104
            "refusing to run without authentication on a non-loopback address",
        ),
        ({"port": 70000}, "out of range"),
        ({"max_connections": 0}, "max_connections"),
        ({"login_grace_time": 0}, "timeouts"),
        ({"idle_timeout": -1.0}, "timeouts"),
        ({"max_channels": 0}, "max_channels"),
        ({"max_startups_per_source": 0}, "max_startups_per_source"),
        ({"max_startups": MaxStartups(10, 30, 5)}, "max_startups"),
        ({"max_startups": MaxStartups(0, 30, 5)}, "max_startups"),
        ({"max_startups": MaxStartups(1, 101, 5)}, "max_startups"),
    ],
)
def test_unsafe_or_invalid_configurations_are_refused_at_construction(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ServerConfigError, match=message):
        SSHServer(ServerConfig(**options))  # type: ignore[arg-type]


def test_loopback_forms_and_explicit_non_loopback_are_accepted() -> None:
    assert SSHServer(ServerConfig(host="localhost", insecure_no_auth=True)).loopback
    assert SSHServer(ServerConfig(host="::1", insecure_no_auth=True)).loopback
    wide = SSHServer(ServerConfig(host="0.0.0.0", allow_non_loopback=True))  # noqa: S104
    assert not wide.loopback  # constructed only: nothing is bound


def test_missing_authorized_keys_refuses_to_start(tmp_path: Path) -> None:
    server = SSHServer(ServerConfig(host_key=tmp_path / "hk", authorized_keys=tmp_path / "missing"))
    with pytest.raises(ServerConfigError, match="authorized_keys file not found"):
        server.start()
    server.close()


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "ecdsa", "rsa"])
def test_authorized_key_logs_in_and_is_recorded(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys, name: str
) -> None:
    server = make_server()
    login(server, clients, keys, name)

    (connection,) = server.connections
    assert connection.authenticated
    assert connection.username == "alice"
    assert connection.auth_method == "publickey"
    assert connection.key_fingerprint == keys.fingerprint(name)
    assert connection.peer[0] == "127.0.0.1"
    assert connection.started_at <= time.time()


def test_unauthorized_key_is_refused(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server()
    transport = connect(server, clients)
    with pytest.raises(paramiko.AuthenticationException):
        transport.auth_publickey("alice", keys.pkey("intruder"))
    assert not transport.is_authenticated()
    (connection,) = server.connections
    assert connection.username is None
    assert connection.key_fingerprint is None


def test_password_is_never_offered(
    make_server: MakeServer, clients: list[paramiko.Transport]
) -> None:
    server = make_server()
    transport = connect(server, clients)
    with pytest.raises(paramiko.BadAuthenticationType) as info:
        transport.auth_password("alice", "hunter2", fallback=False)
    assert info.value.allowed_types == ["publickey"]


def test_none_auth_is_refused_by_default(
    make_server: MakeServer, clients: list[paramiko.Transport]
) -> None:
    server = make_server()
    transport = connect(server, clients)
    with pytest.raises(paramiko.BadAuthenticationType) as info:
        transport.auth_none("alice")
    assert info.value.allowed_types == ["publickey"]
    assert not transport.is_authenticated()


def test_none_auth_with_the_insecure_flag_on_loopback(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="jupyssh.core.server")
    server = make_server(insecure_no_auth=True, authorized_keys=tmp_path / "missing")
    assert "INSECURE" in caplog.text
    transport = connect(server, clients)
    transport.auth_none("bob")
    assert transport.is_authenticated()
    (connection,) = server.connections
    assert (connection.username, connection.auth_method, connection.key_fingerprint) == (
        "bob",
        "none",
        None,
    )


def test_revoking_a_key_takes_effect_without_restart(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    authorized_keys: Path,
) -> None:
    server = make_server()
    login(server, clients, keys)
    authorized_keys.write_text(keys.pub("rsa"))  # alice removed, rsa kept
    transport = connect(server, clients)
    with pytest.raises(paramiko.AuthenticationException):
        transport.auth_publickey("alice", keys.pkey("alice"))
    login(server, clients, keys, "rsa")
    authorized_keys.write_text(keys.pub("rsa") + keys.pub("intruder"))  # new key, no restart
    login(server, clients, keys, "intruder")


# --- deny by default --------------------------------------------------------------------------


def test_base_policy_refuses_sessions_forwards_and_tcpip(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server()
    transport = login(server, clients, keys)

    with pytest.raises(paramiko.ChannelException) as info:
        transport.open_session(timeout=5)
    assert info.value.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
    with pytest.raises(paramiko.ChannelException):
        transport.open_channel(
            "direct-tcpip", dest_addr=("127.0.0.1", 9), src_addr=("127.0.0.1", 0), timeout=5
        )
    with pytest.raises(paramiko.SSHException, match="denied"):
        transport.request_port_forward("127.0.0.1", 0)
    assert transport.global_request("no-such-request@example.com", wait=True) is None


class OpenFieldsPolicy(ServerPolicy):
    """Records the fields paramiko left unread in a channel open of a kind it does not
    parse (a client's ``forwarded-tcpip``: the address and port follow), then refuses."""

    seen: ClassVar[list[tuple[str, int]]] = []

    def check_channel_request(self, kind: str, chanid: int) -> int:
        message = self.connection.channel_open
        if message is not None:
            self.seen.append((message.get_text(), message.get_int()))
        return super().check_channel_request(kind, chanid)


class OpenFieldsServer(SSHServer):
    policy_class = OpenFieldsPolicy


def test_a_policy_reads_the_open_fields_paramiko_does_not_parse(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(OpenFieldsServer)
    transport = login(server, clients, keys)
    with pytest.raises(paramiko.ChannelException):
        transport.open_channel(
            "forwarded-tcpip", dest_addr=("peer.example", 7), src_addr=("127.0.0.1", 1), timeout=5
        )
    assert OpenFieldsPolicy.seen == [("peer.example", 7)]


def test_session_policy_still_refuses_pty_shell_exec_and_unlisted_subsystems(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(SftpServer)  # sftp handler registered, but not allowed by policy
    transport = login(server, clients, keys)

    requests: list[Callable[[Channel], object]] = [
        lambda chan: chan.get_pty(),
        lambda chan: chan.invoke_shell(),
        lambda chan: chan.exec_command("true"),
        lambda chan: chan.invoke_subsystem("sftp"),
    ]
    for request in requests:
        channel = transport.open_session(timeout=5)
        with pytest.raises(paramiko.SSHException):  # paramiko: "Channel closed."
            request(channel)
        channel.close()


def test_allowed_subsystem_runs_the_handler_registered_in_on_transport(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(AllowedSftpServer)
    transport = login(server, clients, keys)
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    with pytest.raises(OSError, match="unsupported"):  # the stub supports nothing, but answers
        sftp.listdir(".")
    sftp.close()


def test_exec_reply_precedes_work_started_after_request(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[int] = []
    original = ServerPacketizer.send_message

    def spy(self: ServerPacketizer, data: Message) -> None:
        sent.append(data.asbytes()[0])
        original(self, data)

    monkeypatch.setattr(ServerPacketizer, "send_message", spy)
    server = make_server(ExecServer)
    transport = login(server, clients, keys)
    channel = transport.open_session(timeout=5)
    del sent[:]
    channel.exec_command("exit 7")
    assert channel.recv_exit_status() == 7
    assert sent[0] == MSG_CHANNEL_SUCCESS  # the exec reply went out before exit-status

    channel = transport.open_session(timeout=5)
    channel.exec_command("hello")
    assert channel.makefile("rb").read() == b"ran hello\n"
    assert channel.recv_exit_status() == 0


def test_accepted_channels_live_until_their_requests_arrive(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    """paramiko holds channels weakly: the server must keep the ones it accepted, or a
    channel whose exec request comes after the supervisor moved on (several opened at once,
    as an OpenSSH ControlMaster does, or a slow client) is collected and closed."""
    server = make_server(ExecServer)
    transport = login(server, clients, keys)
    channels = [transport.open_session(timeout=5) for _ in range(6)]
    # the supervisor accepts them all and goes on waiting; ticks pass
    time.sleep(3 * server.tick)
    gc.collect()
    for n, channel in enumerate(channels):
        channel.exec_command(f"exit {n}")
    assert [channel.recv_exit_status() for channel in channels] == list(range(6))
    # closed channels are let go
    wait_until(lambda: all(c.closed for c in channels))
    connection = next(iter(server.connections))
    wait_until(lambda: not connection.channels, timeout=5 * server.tick + 5)


# --- limits and timeouts -----------------------------------------------------------------------


def _closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def _silent_connections(
    server: SSHServer, count: int, source: str = "127.0.0.2"
) -> list[socket.socket]:
    """``count`` TCP connections from ``source`` that never say a word."""
    opened = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))  # the whole of 127/8 is this machine
        sock.settimeout(5)
        sock.connect(server.address)
        opened.append(sock)
    return opened


def _kept_and_dropped(socks: list[socket.socket]) -> tuple[int, int]:
    """How many of ``socks`` the server kept (it sent its SSH banner) and dropped
    (closed before any byte)."""
    kept = dropped = 0
    for sock in socks:
        first = sock.recv(64)
        if first.startswith(b"SSH-2.0-"):
            kept += 1
        else:
            assert first == b""
            dropped += 1
    return kept, dropped


@pytest.fixture
def silent() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_finding_4_idle_connections_do_not_lock_out(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    silent: list[socket.socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Security finding 4: 16 silent TCP connections used to refuse everyone for 15 s.
    Now one source holds at most ``max_startups_per_source`` unauthenticated slots and
    other clients get in."""
    caplog.set_level(logging.INFO, logger="jupyssh.core.server")
    server = make_server()  # the defaults: max_startups 10:30:100, 10 per source
    silent += _silent_connections(server, 40)
    assert _kept_and_dropped(silent) == (10, 30)
    drops = [r for r in caplog.records if r.getMessage().startswith("dropping connection")]
    assert len(drops) == 30
    assert [r.levelno for r in drops].count(logging.WARNING) == 1  # not a flood of warnings

    # 10 waiting is MaxStartups' start: from here a new client is dropped at random, 30%
    # of the time (as with sshd). 20 tries all dropped would be a 3e-11 chance.
    started = time.monotonic()
    for _ in range(20):
        with contextlib.suppress(paramiko.SSHException, EOFError):
            login(server, clients, keys)  # from 127.0.0.1
            break
    else:
        pytest.fail("every login was dropped")
    assert time.monotonic() - started < 2
    assert sum(not c.authenticated for c in server.connections) == 10


def test_finding_4_below_max_startups_a_flooding_source_costs_others_nothing(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    silent: list[socket.socket],
) -> None:
    server = make_server(max_startups_per_source=5)  # under MaxStartups' start (10)
    silent += _silent_connections(server, 40)
    assert _kept_and_dropped(silent) == (5, 35)
    for _ in range(5):  # never dropped
        login(server, clients, keys)


def test_finding_4_max_startups_drops_at_random_from_start_and_all_at_full() -> None:
    spec = MaxStartups(start=10, rate=30, full=100)
    assert not spec.refuses(9, draw=0.0)
    assert spec.refuses(10, draw=0.29)
    assert not spec.refuses(10, draw=0.30)
    assert spec.refuses(55, draw=0.64)  # 30% + 70% * 45/90 = 65%
    assert not spec.refuses(55, draw=0.66)
    assert spec.refuses(99, draw=0.99)
    assert spec.refuses(100, draw=0.999)
    assert MaxStartups(3, 100, 3).refuses(3, draw=0.999)  # start == full: a hard cap
    assert MaxStartups.parse("10:30:60") == MaxStartups(10, 30, 60)
    assert MaxStartups.parse("20") == MaxStartups(20, 100, 20)  # OpenSSH's short form
    assert str(MaxStartups(10, 30, 100)) == "10:30:100"
    for bad in ("", "a:b:c", "10:30", "10:30:5", "0:30:60", "10:101:60", "1:2:3:4"):
        with pytest.raises(ValueError, match="max-startups"):
            MaxStartups.parse(bad)


def test_finding_4_max_startups_counts_unauthenticated_connections_of_every_source(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    silent: list[socket.socket],
) -> None:
    server = make_server(max_startups=MaxStartups(3, 100, 3), max_startups_per_source=2)
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        silent += _silent_connections(server, 2, source)
    assert _kept_and_dropped(silent) == (3, 3)
    with pytest.raises(paramiko.SSHException):  # 3 unauthenticated already: this one too
        connect(server, clients)


def test_finding_4_authenticated_connections_are_counted_apart(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    silent: list[socket.socket],
) -> None:
    """``max_connections`` counts authenticated connections only: unauthenticated ones
    do not take their slots, and one authenticating past the limit is disconnected."""
    server = make_server(max_connections=2)
    silent += _silent_connections(server, 3)
    first = login(server, clients, keys)
    login(server, clients, keys)

    extra = connect(server, clients)  # still let in: it might never authenticate
    with contextlib.suppress(paramiko.SSHException):  # the disconnect may overtake paramiko
        extra.auth_publickey("alice", keys.pkey("alice"))
    wait_until(lambda: not extra.is_active())
    wait_until(lambda: len(server.connections) == 5)  # 3 silent, 2 authenticated
    assert sum(c.authenticated for c in server.connections) == 2

    first.close()
    wait_until(lambda: sum(c.authenticated for c in server.connections) == 1)
    login(server, clients, keys)
    assert _kept_and_dropped(silent) == (3, 0)


def test_finding_4_login_grace_time_closes_unauthenticated_connections(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(login_grace_time=0.5)
    silent = socket.create_connection(server.address, timeout=5)
    handshaken = connect(server, clients)
    authenticated = login(server, clients, keys)
    started = time.monotonic()

    with silent:
        assert _closed_by_server(silent).startswith(b"SSH-2.0-")
    wait_until(lambda: not handshaken.is_active())
    assert time.monotonic() - started < 3
    assert authenticated.is_active()
    wait_until(lambda: len(server.connections) == 1)


def test_finding_14_idle_timeout_closes_connections_without_an_open_channel(
    make_server: MakeServer,
    clients: list[paramiko.Transport],
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As OpenSSH's UnusedConnectionTimeout: an open channel keeps a connection however
    quiet it is; a connection without one is closed after ``idle_timeout``."""
    caplog.set_level(logging.INFO, logger="jupyssh.core.server")
    server = make_server(SessionServer, idle_timeout=0.3)
    busy = login(server, clients, keys)
    channel = busy.open_session(timeout=5)
    quiet_since = time.monotonic()  # busy says nothing from here on
    quiet = login(server, clients, keys)

    while quiet.is_active():  # global keepalives do not count as use
        with contextlib.suppress(EOFError, OSError):
            quiet.global_request("keepalive@openssh.com", wait=False)
        assert time.monotonic() - quiet_since < 5
        time.sleep(0.1)
    assert time.monotonic() - quiet_since > 0.3
    assert busy.is_active()  # silent longer than the timeout, but with a channel open

    channel.close()  # the clock starts when the last channel closes
    closed_at = time.monotonic()
    wait_until(lambda: not busy.is_active(), timeout=3)
    assert time.monotonic() - closed_at > 0.25
    assert "no open channel for 0.3s" in caplog.text


def test_finding_14_max_channels_refuses_the_extra_channel(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(SessionServer, max_channels=2)
    transport = login(server, clients, keys)
    first = transport.open_session(timeout=5)
    held = [transport.open_session(timeout=5)]  # a client channel closes when collected

    with pytest.raises(paramiko.ChannelException) as info:
        transport.open_session(timeout=5)
    assert info.value.code == OPEN_FAILED_RESOURCE_SHORTAGE
    assert transport.is_active()  # only the channel was refused

    first.close()
    wait_until(lambda: len(next(iter(server.connections)).channels) == 1)
    held.append(transport.open_session(timeout=5))  # a slot is free again
    other = login(server, clients, keys)  # the limit is per connection
    held += [other.open_session(timeout=5), other.open_session(timeout=5)]


# --- hooks and shutdown -----------------------------------------------------------------------


class RecordingServer(SftpServer):
    policy_class = SftpPolicy

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.events: list[tuple[str, int, str | None]] = []
        self.hook_threads: set[str] = set()

    def make_policy(self, connection: Connection) -> paramiko.ServerInterface:
        self.events.append(("policy", connection.id, None))
        self.hook_threads.add(threading.current_thread().name)
        return super().make_policy(connection)

    def on_channel(self, connection: Connection, channel: Channel) -> None:
        self.events.append(("channel", connection.id, connection.username))
        self.hook_threads.add(threading.current_thread().name)

    def on_connection_closed(self, connection: Connection) -> None:
        self.events.append(("closed", connection.id, connection.username))
        self.hook_threads.add(threading.current_thread().name)

    def on_server_closed(self) -> None:
        self.events.append(("server closed", 0, threading.current_thread().name))


def test_hooks_run_once_per_connection_on_the_documented_threads(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = make_server(RecordingServer)
    assert isinstance(server, RecordingServer)
    transport = login(server, clients, keys)
    transport.open_session(timeout=5).close()
    transport.close()
    wait_until(lambda: not server.connections)

    (connection_id,) = {event[1] for event in server.events}
    assert server.events == [
        ("policy", connection_id, None),
        ("channel", connection_id, "alice"),
        ("closed", connection_id, "alice"),  # the user is still known at cleanup
    ]
    assert server.hook_threads == {"jupyssh-ssh-accept", f"jupyssh-ssh-conn-{connection_id}"}


def test_close_ends_every_connection_and_leaves_no_thread(
    tmp_path: Path,
    authorized_keys: Path,
    clients: list[paramiko.Transport],
    keys: Keys,
) -> None:
    baseline = set(threading.enumerate())
    server = RecordingServer(
        ServerConfig(host_key=tmp_path / "hk", authorized_keys=authorized_keys)
    ).start()
    busy = login(server, clients, keys)
    sftp = paramiko.SFTPClient.from_transport(busy)  # a subsystem thread on the server
    assert sftp is not None
    login(server, clients, keys).open_session(timeout=5)
    connect(server, clients)  # not authenticated
    silent = socket.create_connection(server.address, timeout=5)
    wait_until(lambda: len(server.connections) == 4)
    assert silent.recv(8) == b"SSH-2.0-"  # its transport runs (no race with close)

    started = time.monotonic()
    server.close(timeout=5)
    assert time.monotonic() - started < 3

    leftover = set(threading.enumerate()) - baseline - set(clients)
    assert leftover == set()
    closed = [event for event in server.events if event[0] == "closed"]
    assert len(closed) == 4
    assert len({event[1] for event in closed}) == 4
    # the server-wide hook last, after every connection's, on the serving thread
    assert server.events[-1] == ("server closed", 0, "jupyssh-ssh-accept")
    with silent:
        assert _closed_by_server(silent).endswith(b"\r\n")  # the banner's end, then EOF
    wait_until(lambda: not any(t.is_active() for t in clients))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1)
    server.close()  # idempotent
    assert [e for e in server.events if e[0] == "server closed"] == [server.events[-1]]


def test_on_server_closed_runs_on_the_serving_thread_when_a_signal_stops_it(
    tmp_path: Path, authorized_keys: Path
) -> None:
    server = RecordingServer(
        ServerConfig(host_key=tmp_path / "hk", authorized_keys=authorized_keys)
    )
    server.bind()
    took: list[float] = []

    def close_from_another_thread() -> None:
        started = time.monotonic()
        server.close(timeout=30)
        took.append(time.monotonic() - started)

    timer = threading.Timer(0.3, close_from_another_thread)
    timer.start()
    server.serve_forever()
    timer.join()
    assert server.events == [("server closed", 0, threading.current_thread().name)]
    # close() waits for serve_forever's shutdown, not for its thread (here the main thread,
    # which never ends): it returned long before its timeout.
    assert took[0] < 10


def test_context_manager_binds_and_closes(tmp_path: Path, authorized_keys: Path) -> None:
    baseline = set(threading.enumerate())
    with SSHServer(
        ServerConfig(host_key=tmp_path / "hk", authorized_keys=authorized_keys)
    ) as server:
        assert server.address[1] > 0  # bound, not serving yet
        assert set(threading.enumerate()) - baseline == set()
        server.start()
        assert {t.name for t in set(threading.enumerate()) - baseline} == {"jupyssh-ssh-accept"}
    assert set(threading.enumerate()) - baseline == set()
    with pytest.raises(ServerConfigError, match="closed"):
        server.bind()


def test_serve_forever_stops_on_sigterm_and_restores_handlers(
    tmp_path: Path, authorized_keys: Path, clients: list[paramiko.Transport], keys: Keys
) -> None:
    server = SSHServer(ServerConfig(host_key=tmp_path / "hk", authorized_keys=authorized_keys))
    server.bind()
    before = signal.getsignal(signal.SIGTERM)
    logged_in = threading.Event()

    def client_then_sigterm() -> None:
        login(server, clients, keys)
        logged_in.set()
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=client_then_sigterm)
    helper.start()
    server.serve_forever(handle_signals=True)  # returns once SIGTERM is handled
    helper.join(5)

    assert logged_in.is_set()
    assert signal.getsignal(signal.SIGTERM) == before
    assert server.connections == ()
    wait_until(lambda: not any(t.is_active() for t in clients))


def test_keyboard_interrupt_unwinds_serve_forever_cleanly(
    tmp_path: Path, authorized_keys: Path
) -> None:
    server = SSHServer(ServerConfig(host_key=tmp_path / "hk", authorized_keys=authorized_keys))
    server.bind()
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        server.serve_forever()
    timer.join()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1)


@pytest.mark.parametrize("user", ["alice", "root", "someone-else"])
def test_finding_19a_the_key_decides_not_the_user_name(
    make_server: MakeServer, clients: list[paramiko.Transport], keys: Keys, user: str
) -> None:
    """Any SSH user name is accepted with an authorized key (documented in docs/security.md:
    every session runs as the Jupyter server's user), and none without one."""
    server = make_server()
    transport = connect(server, clients)
    transport.auth_publickey(user, keys.pkey("alice"))
    assert transport.is_authenticated()
    stranger = connect(server, clients)
    with pytest.raises(paramiko.AuthenticationException):
        stranger.auth_publickey(user, keys.pkey("intruder"))


def test_the_server_starts_no_rekey_before_sshd_would() -> None:
    """paramiko's server-started rekey (after 512 MiB) can deadlock its transport thread
    on a channel close that crossed our KEXINIT: the server rekeys where sshd does for
    AES (2^32 blocks), and leaves earlier ones to the client's RekeyLimit."""
    assert paramiko.Packetizer.REKEY_BYTES == 1 << 29  # what this replaces
    assert ServerPacketizer.REKEY_BYTES == 16 << 32
    assert ServerPacketizer.REKEY_PACKETS == 1 << 31
