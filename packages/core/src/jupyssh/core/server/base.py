"""The listener: accept TCP connections, run one paramiko ``Transport`` per connection,
supervise it (limits, timeouts, cleanup) and shut everything down on request.

Threads (see also the package docstring):

- **accept thread** — ``start()``'s background thread, or the caller of
  ``serve_forever()``. Waits on the listening socket and a wake-up socket pair; drops new
  connections past the pre-authentication limits (below); builds the transport and calls
  :meth:`SSHServer.make_policy` and :meth:`SSHServer.on_transport` for each new connection.
- **transport thread** — paramiko's, one per connection; it runs every policy hook.
- **supervisor thread** — one per connection (``jupyssh-ssh-conn-<id>``). It takes the
  channels paramiko queued (``Transport.accept``) and passes them to
  :meth:`SSHServer.on_channel`, closes the connection when authentication or idleness time
  out, and when the transport has ended — its thread and the subsystem threads (SFTP…)
  paramiko started for its channels joined, each bounded — calls
  :meth:`SSHServer.on_connection_closed` exactly once. It wakes at least every
  :attr:`SSHServer.tick` seconds.
- **subsystem threads** — paramiko's ``SubsystemHandler``, one per subsystem channel.
- **workers** a subclass starts for its channels (e.g. from
  :meth:`Connection.after_request`) are its own to end; ``on_connection_closed`` is the
  place.

Limits, as sshd's (``ServerConfig`` holds them; ``jupyssh.core.server.options`` makes them
command-line options):

- **before authentication** a connection proves nothing, so they are counted apart:
  ``max_startups`` (OpenSSH's ``MaxStartups`` random early drop, :mod:`.limits`) over all of
  them, ``max_startups_per_source`` per client address, and ``login_grace_time`` to
  authenticate. A dropped connection is closed before the SSH banner, as sshd does.
- **after authentication** ``max_connections`` counts authenticated connections; one that
  authenticates past it is told "too many connections" and closed. ``max_channels`` caps a
  connection's open channels, ``idle_timeout`` closes a connection that has had no open
  channel for that long (OpenSSH's ``UnusedConnectionTimeout``).

Shutdown (:meth:`SSHServer.close`) stops accepting, closes every transport, then waits —
bounded by its timeout — for the supervisors (hence ``on_connection_closed``), the
transport and the subsystem threads; then calls :meth:`SSHServer.on_server_closed`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import selectors
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, TypeVar

import paramiko
from paramiko.channel import Channel

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.server.authorized_keys import AuthorizedKeys, default_authorized_keys_path
from jupyssh.core.server.connection import Connection, ServerPacketizer
from jupyssh.core.server.hostkey import fingerprint, known_hosts_line, load_or_create_host_key
from jupyssh.core.server.limits import DEFAULT_MAX_STARTUPS, MaxStartups
from jupyssh.core.server.policy import ServerPolicy

__all__ = ["SSHServer", "ServerConfig"]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="SSHServer")
_random = random.SystemRandom()  # the early drop must not be predictable from outside


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How an :class:`SSHServer` listens and whom it lets in.

    :param host: address to bind; ``127.0.0.1`` by default.
    :param port: TCP port; ``0`` picks a free one (read it from :attr:`SSHServer.address`).
    :param allow_non_loopback: required to bind anything but a loopback address
        (``0.0.0.0``, a LAN address): the server is reachable by other machines then.
    :param host_key: ed25519 host key file; default the per-installation key
        (:func:`~jupyssh.core.server.default_host_key_path`). Created if missing.
    :param authorized_keys: the keys that may log in; default ``~/.ssh/authorized_keys``.
        The server refuses to start if it is missing, unless ``insecure_no_auth``.
    :param insecure_no_auth: also accept clients that present no credentials at all
        (SSH ``none`` method). Only allowed on a loopback address.
    :param max_connections: concurrent authenticated connections; a connection that
        authenticates past it is disconnected ("too many connections").
    :param max_startups: unauthenticated connections: OpenSSH's ``MaxStartups``
        ``start:rate:full`` random early drop (:class:`MaxStartups`).
    :param max_startups_per_source: unauthenticated connections from one client address.
    :param login_grace_time: seconds from accept to successful authentication.
    :param idle_timeout: close an authenticated connection that has had no open channel
        for this many seconds (OpenSSH's ``UnusedConnectionTimeout``); ``None`` never does.
    :param max_channels: channels one connection may have open at once.
    """

    host: str = "127.0.0.1"
    port: int = 0
    allow_non_loopback: bool = False
    host_key: Path | None = None
    authorized_keys: Path | None = None
    insecure_no_auth: bool = False
    max_connections: int = 16
    max_startups: MaxStartups = DEFAULT_MAX_STARTUPS
    max_startups_per_source: int = 10
    login_grace_time: float = 20.0
    idle_timeout: float | None = 600.0
    max_channels: int = 64


class SSHServer:
    """A paramiko SSH server: one persistent host key, public-key auth, deny-by-default.

    Subclasses enable what they serve through the policy (:attr:`policy_class` or
    :meth:`make_policy`) and the hooks :meth:`on_transport`, :meth:`on_channel` and
    :meth:`on_connection_closed`. Use it as::

        with SSHServer(ServerConfig(port=2222)) as server:   # binds, loads keys
            print(server.known_hosts_line())
            server.serve_forever(handle_signals=True)        # or server.start()

    Construction validates the configuration only (:class:`ServerConfigError` for an
    unsafe one); :meth:`bind` (called by ``with``, :meth:`start`, :meth:`serve_forever`)
    loads or creates the host key, loads authorized_keys and binds the socket.
    """

    #: The policy made for each connection by the default :meth:`make_policy`.
    policy_class: ClassVar[type[ServerPolicy]] = ServerPolicy
    #: Algorithms the server never negotiates (``Transport(disabled_algorithms=…)``).
    disabled_algorithms: ClassVar[Mapping[str, Sequence[str]]] = {
        "ciphers": ("aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"),
        "macs": ("hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96"),
        "pubkeys": ("ssh-rsa",),
        "keys": ("ssh-rsa",),
    }
    #: Longest a supervisor or the accept loop sleeps between checks (seconds).
    tick: ClassVar[float] = 0.2

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config = config or ServerConfig()
        if not 0 <= config.port <= 65535:
            raise ServerConfigError(f"port {config.port} is out of range", hint="use 0-65535")
        for name in ("max_connections", "max_startups_per_source", "max_channels"):
            if getattr(config, name) < 1:
                raise ServerConfigError(f"{name} must be at least 1")
        problem = config.max_startups.problem()
        if problem:
            raise ServerConfigError(f"max_startups {config.max_startups}: {problem}")
        if config.login_grace_time <= 0 or (
            config.idle_timeout is not None and config.idle_timeout <= 0
        ):
            raise ServerConfigError("timeouts must be positive seconds")
        self._family, self._sockaddr = _resolve(config.host, config.port)
        self.loopback = _is_loopback(self._sockaddr[0])
        where = f"{config.host}:{config.port}"
        if config.insecure_no_auth and not self.loopback:
            raise ServerConfigError(
                "refusing to run without authentication on a non-loopback address",
                where=where,
                hint="bind 127.0.0.1, or drop the insecure no-auth option",
            )
        if not self.loopback and not config.allow_non_loopback:
            raise ServerConfigError(
                "refusing to listen on a non-loopback address",
                where=where,
                hint="bind 127.0.0.1, or allow non-loopback explicitly if other machines "
                "must reach this server",
            )
        self.authorized_keys: AuthorizedKeys | None = None
        self._host_key: paramiko.Ed25519Key | None = None
        self._listener: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._lock = threading.Lock()
        self._connections: dict[Connection, threading.Thread] = {}
        self._authenticated: set[Connection] = set()  # those counted by max_connections
        self._next_drop_warning = 0.0
        self._stop_requested = False
        self._shutdown_timeout = 5.0
        self._closed = False
        self._serving_thread: threading.Thread | None = None
        # Set when serve_forever has shut down: close() on another thread waits for it (the
        # serving thread may be the main thread, which never ends while close() runs).
        self._served = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------

    def bind(self) -> None:
        """Load (or create) the host key, load authorized_keys, bind and listen. Idempotent.

        :raises ServerConfigError: unusable host key or authorized_keys, address in use.
        """
        if self._closed:
            raise ServerConfigError("server was closed; make a new one")
        if self._listener is not None:
            return
        config = self.config
        self._host_key = load_or_create_host_key(config.host_key)
        path = config.authorized_keys or default_authorized_keys_path()
        keys = AuthorizedKeys(path)
        try:
            keys.load()
        except ServerConfigError:
            if not (config.insecure_no_auth and not keys.path.exists()):
                raise
            logger.warning("no authorized_keys file at %s: public-key login disabled", path)
        else:
            self.authorized_keys = keys
        if config.insecure_no_auth:
            logger.warning("INSECURE: clients are let in without any credentials")
        listener = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self._sockaddr)
            listener.listen(128)  # drained at once: the limits apply after accept()
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise ServerConfigError(
                f"cannot listen ({exc.strerror})",
                where=f"{config.host}:{config.port}",
                hint="pick another port, or stop what is using this one",
            ) from exc
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._listener = listener
        sockname = listener.getsockname()
        self._address = host, port = str(sockname[0]), int(sockname[1])
        logger.info("SSH server listening on %s port %d", host, port)
        logger.info("host key fingerprint %s", self.host_key_fingerprint())
        logger.info("known_hosts line: %s", self.known_hosts_line())

    def start(self: _S) -> _S:
        """Bind, then accept connections on a background (daemon) thread; returns self."""
        self.bind()
        with self._lock:
            if self._serving_thread is not None:
                return self
            thread = threading.Thread(
                target=self.serve_forever, name="jupyssh-ssh-accept", daemon=True
            )
            self._serving_thread = thread
        thread.start()
        return self

    def serve_forever(self, *, handle_signals: bool = False) -> None:
        """Bind, then accept connections on this thread until :meth:`request_stop` or
        :meth:`close`; then shut down (bounded) before returning.

        :param handle_signals: on the main thread, make SIGINT and SIGTERM stop the server
            (previous handlers are restored on return). Without it a ``KeyboardInterrupt``
            still unwinds through here and shuts the server down.
        """
        self.bind()
        with self._lock:
            if self._serving_thread is None:
                self._serving_thread = threading.current_thread()
            elif self._serving_thread is not threading.current_thread():
                raise RuntimeError("this server is already serving on another thread")
        restore: dict[signal.Signals, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                restore[signum] = signal.signal(signum, self._on_signal)
        try:
            self._accept_loop()
        finally:
            for signum, previous in restore.items():
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)
            try:
                self._shutdown(self._shutdown_timeout)
            finally:
                self._served.set()

    def request_stop(self) -> None:
        """Ask the accept loop to stop; returns at once. Safe in a signal handler."""
        self._stop_requested = True
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait up to ``timeout`` seconds for
        their threads and ``on_connection_closed`` hooks. Idempotent.

        Called on the thread running :meth:`serve_forever` (a signal handler), it only
        requests the stop; ``serve_forever`` finishes the shutdown as it returns.
        """
        self._shutdown_timeout = timeout
        self.request_stop()
        serving = self._serving_thread
        if serving is threading.current_thread():
            return
        deadline = time.monotonic() + timeout
        if serving is not None:
            self._served.wait(timeout)  # serve_forever shuts down as it returns
        self._shutdown(max(0.0, deadline - time.monotonic()))

    def __enter__(self: _S) -> _S:
        self.bind()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- facts ---------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) bound — the real port when configured with 0 (kept after close)."""
        if self._address is None:
            raise RuntimeError("server is not bound yet; call bind() or start()")
        return self._address

    @property
    def host_key(self) -> paramiko.Ed25519Key:
        if self._host_key is None:
            raise RuntimeError("server is not bound yet; call bind() or start()")
        return self._host_key

    def host_key_fingerprint(self) -> str:
        """``SHA256:…`` of the host key, as ``ssh`` shows it when it first connects."""
        return fingerprint(self.host_key)

    def known_hosts_line(self, host: str | None = None) -> str:
        """The line a client appends to ``known_hosts`` to trust this server.

        ``host`` defaults to the bound address (pass the name clients use when bound to a
        wildcard address)."""
        bound, port = self.address
        return known_hosts_line(self.host_key, host or bound, port)

    @property
    def connections(self) -> tuple[Connection, ...]:
        """The connections currently open (snapshot)."""
        with self._lock:
            return tuple(self._connections)

    # --- hooks for subclasses --------------------------------------------------------------

    def make_policy(self, connection: Connection) -> paramiko.ServerInterface:
        """The ``ServerInterface`` for a new connection (accept thread; must not block).

        Default: :attr:`policy_class` with this server's authorized keys and no-auth flag.
        Override to pass more to your policy; keep the authentication of
        :class:`ServerPolicy` (subclass it) unless you mean to replace it.
        """
        return self.policy_class(
            connection, self.authorized_keys, allow_none=self.config.insecure_no_auth
        )

    def on_transport(self, transport: paramiko.Transport, connection: Connection) -> None:
        """Configure a new transport before its handshake starts (accept thread; must not
        block), e.g. ``transport.set_subsystem_handler("sftp", SFTPServer, MyInterface)``."""

    def on_channel(self, connection: Connection, channel: Channel) -> None:
        """A channel the policy let open (supervisor thread). Default: nothing — channels
        are normally driven from the policy's ``check_channel_*_request`` hooks; the
        connection keeps every accepted channel alive until it closes (paramiko holds them
        only weakly). Blocking here delays this connection's timeouts, not other
        connections."""

    def on_connection_closed(self, connection: Connection) -> None:
        """The connection has ended, whatever the reason (supervisor thread, exactly once,
        after its transport and subsystem threads stopped). Release per-connection
        resources here (stop your workers, delete a kernel); may block, but :meth:`close`
        waits for it only up to its timeout."""

    def on_server_closed(self) -> None:
        """The server has shut down: it no longer listens and every connection has ended
        (or outlived :meth:`close`'s timeout). Called exactly once, on the thread that
        shut down — :meth:`serve_forever`'s as it returns, else :meth:`close`'s caller —
        even if the server was never bound. Release server-wide resources here."""

    # --- internals ------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        self.request_stop()

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        if listener is None or wake is None:
            raise RuntimeError("bind() first")
        if self._stop_requested:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stop_requested:
                try:
                    ready = selector.select(timeout=1.0)
                except (OSError, ValueError):
                    if self._closed:  # close() gave up waiting and closed the sockets
                        return
                    raise
                for key, _ in ready:
                    if key.fileobj is wake:
                        with contextlib.suppress(OSError):
                            wake.recv(64)
                    elif not self._stop_requested:
                        self._accept_one(listener)

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            sock, peer = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError:
            logger.exception("accept failed")
            return
        address = str(peer[0])
        refusal = self._pre_auth_refusal(address)
        if refusal:
            # a flood must not flood the log too: one warning a minute, the rest at -v
            now = time.monotonic()
            level = logging.WARNING if now >= self._next_drop_warning else logging.INFO
            if level == logging.WARNING:
                self._next_drop_warning = now + 60
            logger.log(level, "dropping connection from %s:%s: %s", address, peer[1], refusal)
            _close_socket(sock)
            return
        try:
            self._start_connection(sock, (str(peer[0]), int(peer[1])))
        except Exception:
            logger.exception("could not set up connection from %s:%s", peer[0], peer[1])
            _close_socket(sock)

    def _pre_auth_refusal(self, address: str) -> str | None:
        """Why a new connection from ``address`` must be dropped, or ``None``."""
        config = self.config
        with self._lock:
            waiting = [c for c in self._connections if c not in self._authenticated]
        from_source = sum(1 for connection in waiting if connection.peer[0] == address)
        if from_source >= config.max_startups_per_source:
            return (
                f"{from_source} unauthenticated connections from this address "
                "(max_startups_per_source)"
            )
        if config.max_startups.refuses(len(waiting), draw=_random.random()):
            return (
                f"{len(waiting)} unauthenticated connections (max_startups {config.max_startups})"
            )
        return None

    def _admit(self, connection: Connection) -> None:
        """Count a connection that just authenticated, or disconnect it past
        ``max_connections`` (transport thread, before it reads another packet)."""
        with self._lock:
            full = len(self._authenticated) >= self.config.max_connections
            if not full:
                self._authenticated.add(connection)
        if full:
            logger.warning(
                "connection %d: disconnecting, %d authenticated connections (max_connections)",
                connection.id,
                self.config.max_connections,
            )
            connection.after_request(connection.disconnect_too_many)

    def _start_connection(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        sock.setblocking(True)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(
            sock,
            disabled_algorithms={k: list(v) for k, v in self.disabled_algorithms.items()},
            packetizer_class=ServerPacketizer,
        )
        transport.add_server_key(self.host_key)
        connection = Connection(transport, peer)
        packetizer = transport.packetizer
        if isinstance(packetizer, ServerPacketizer):
            packetizer.max_channels = self.config.max_channels
            packetizer.on_authenticated = lambda: self._admit(connection)
        try:
            policy = connection.policy = self.make_policy(connection)
            self.on_transport(transport, connection)
        except Exception:
            transport.close()
            raise
        supervisor = threading.Thread(
            target=self._supervise,
            args=(connection,),
            name=f"jupyssh-ssh-conn-{connection.id}",
            daemon=True,
        )
        with self._lock:
            if self._closed or self._stop_requested:
                transport.close()
                return
            self._connections[connection] = supervisor
        logger.info("connection %d from %s:%d", connection.id, peer[0], peer[1])
        transport.start_server(event=threading.Event(), server=policy)
        supervisor.start()

    def _supervise(self, connection: Connection) -> None:
        transport = connection.transport
        config = self.config
        announced = False
        try:
            while transport.is_active():
                if not announced and connection.authenticated:
                    announced = True
                    _log_authenticated(connection)
                connection.release_closed()
                channel = transport.accept(timeout=self.tick)
                if channel is not None:
                    connection.hold(channel)
                    self.on_channel(connection, channel)
                    continue
                reason = self._expired(connection, config)
                if reason:
                    logger.info("connection %d: closing, %s", connection.id, reason)
                    break
        except Exception:
            logger.exception("connection %d: supervisor failed", connection.id)
        finally:
            transport.close()
            transport.join(timeout=2.0)
            connection.release_closed()  # the transport closed them all
            for handler in _subsystem_threads(connection):
                handler.join(timeout=2.0)  # they end once their channel is gone
            if not announced and connection.authenticated:
                _log_authenticated(connection)
            try:
                self.on_connection_closed(connection)
            except Exception:
                logger.exception("connection %d: on_connection_closed failed", connection.id)
            with self._lock:
                self._connections.pop(connection, None)
                self._authenticated.discard(connection)
            logger.info("connection %d closed", connection.id)

    @staticmethod
    def _expired(connection: Connection, config: ServerConfig) -> str | None:
        now = time.monotonic()
        if not connection.authenticated:
            if now - connection.started_monotonic > config.login_grace_time:
                return f"not authenticated within {config.login_grace_time:g}s"
        elif config.idle_timeout is not None and connection.idle_seconds > config.idle_timeout:
            return f"no open channel for {config.idle_timeout:g}s"
        return None

    def _shutdown(self, timeout: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            supervisors = dict(self._connections)
        deadline = time.monotonic() + timeout
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        for connection in supervisors:
            connection.transport.close()
        for connection, supervisor in supervisors.items():
            if supervisor.is_alive() and supervisor is not threading.current_thread():
                supervisor.join(max(0.0, deadline - time.monotonic()))
            connection.transport.join(max(0.0, deadline - time.monotonic()))
        stuck = [c for c, s in supervisors.items() if s.is_alive()]
        if stuck:
            logger.warning(
                "%d connection(s) still cleaning up after %.1fs: %s", len(stuck), timeout, stuck
            )
        try:
            self.on_server_closed()
        except Exception:
            logger.exception("on_server_closed failed")
        logger.info("SSH server stopped")


def _subsystem_threads(connection: Connection) -> list[paramiko.SubsystemHandler]:
    """Subsystem threads (SFTP…) paramiko started for ``connection``'s channels."""
    return [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, paramiko.SubsystemHandler)
        and thread.get_server() is connection.policy
        and thread is not threading.current_thread()
    ]


def _log_authenticated(connection: Connection) -> None:
    logger.info(
        "connection %d: user %r authenticated by %s%s",
        connection.id,
        connection.username,
        connection.auth_method,
        f" with key {connection.key_fingerprint}" if connection.key_fingerprint else "",
    )


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    try:
        infos = socket.getaddrinfo(
            host or None,
            port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV,
        )
    except socket.gaierror as exc:
        raise ServerConfigError(
            f"cannot resolve listen address ({exc.strerror})", where=host
        ) from exc
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _close_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
