"""The bridge server: core's deny-by-default SSH server, opened up for session channels
whose shells and commands run in a kernel of one Jupyter server.

Per connection: a :class:`~jupyssh.bridge.session.KernelSession` (its kernel is started
when the first session channel opens and deleted when the connection ends, however it
ends). Per channel: a :class:`~jupyssh.bridge.channel.BridgeChannel`. The policy's hooks
run on paramiko's transport thread and only record requests or queue work; the process
starts from :meth:`Connection.after_request`, once paramiko has answered the request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import paramiko
from paramiko.channel import Channel
from paramiko.common import (
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_SUCCEEDED,
)

from jupyssh.bridge import agent
from jupyssh.bridge.channel import BridgeChannel, ChannelRequest, PtyRequest, end_channel
from jupyssh.bridge.errors import SFTPUnavailableError
from jupyssh.bridge.forward import OPEN_TIMEOUT, ForwardChannel, RemoteForwards
from jupyssh.bridge.forwarding import ForwardingPolicy
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.pool import KernelPool
from jupyssh.bridge.reader import ReaderChoice, kernel_reader_choice
from jupyssh.bridge.session import KernelSession
from jupyssh.bridge.terminal import TerminalChannel
from jupyssh.core.errors import JupysshError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import Connection, ServerConfig, ServerPolicy, SSHServer

__all__ = [
    "ACCEPTED_ENV",
    "BACKENDS",
    "MAX_CHANNELS",
    "Backend",
    "BridgeConfig",
    "BridgePolicy",
    "BridgeServer",
    "sftp_available",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The channel type of ``ssh -L`` to a Unix socket (OpenSSH's PROTOCOL, 2.4).
STREAMLOCAL = "direct-streamlocal@openssh.com"
#: Environment variables a client may set (``SendEnv``), as Debian's sshd ``AcceptEnv``.
ACCEPTED_ENV = frozenset({"LANG", "LANGUAGE", "COLORTERM"})
ACCEPTED_ENV_PREFIXES = ("LC_",)
#: Where interactive shells run: ``kernel`` (a PTY process in the connection's kernel) or
#: ``terminals`` (a terminal of the Jupyter server's terminals API).
Backend = Literal["kernel", "terminals"]
BACKENDS: tuple[Backend, ...] = ("kernel", "terminals")
#: Seconds ``on_connection_closed`` waits for a session to stop and delete its kernel.
CLOSE_TIMEOUT = 30.0
#: Channels one connection may have open at once (``--max-channels``; core's servers allow
#: 64). Every forwarded connection is a channel, and VS Code Remote-SSH or a browser
#: behind ``ssh -D`` keeps dozens open; sshd does not count forwards at all. Measured, an
#: open forward holds about 100 KiB and two threads in the bridge and as much in the
#: kernel; in flight it holds at most its windows (4 MiB towards the client, 1 MiB
#: towards the agent), whatever the count.
MAX_CHANNELS = 256
#: What a client asking for ``sftp`` reads when ``jupyssh-sftp`` is not installed.
SFTP_MISSING = (
    "this bridge cannot serve sftp: jupyssh-sftp is not installed "
    "(pip install 'jupyssh-bridge[sftp]')"
)


def sftp_available() -> bool:
    """Whether ``jupyssh-sftp`` is installed (then the bridge serves ``sftp`` too)."""
    try:
        import jupyssh.sftp  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class BridgeConfig:
    """What the bridge runs its channels in.

    :param kernel_name: the kernel spec to start (the server's default if ``None``).
    :param warm: kernels kept started ahead of connections.
    :param reader: the reader the kernels run: ``auto`` (the compiled one where the
        kernel can load it: installed there, or sent by the bridge into kernels whose
        platform and Python ABI match its own; else pure), ``compiled`` (a kernel that
        cannot load it fails its connection with a clear error), ``pure`` (the compiled
        module is never sent). ``JUPYSSH_NO_EXTENSIONS=1`` means ``pure``.
    :param ship_compiled: with ``False``, never send the compiled module (a kernel may
        still use one installed there); ``reader="pure"`` is the way to force pure.
    :param sftp: serve the ``sftp`` subsystem; ``True`` (the default) serves it when
        ``jupyssh-sftp`` is installed, ``"require"`` refuses to start without it
        (:class:`~jupyssh.bridge.errors.SFTPUnavailableError`).
    :param backend: ``terminals`` serves interactive shells (``pty-req`` then ``shell``)
        with the server's terminals API; commands (``exec``) and shells without a PTY
        still run in the kernel.
    :param forwarding: what connections may forward (all of it by default, as sshd).
    """

    kernel_name: str | None = None
    warm: int = 0
    reader: ReaderChoice = "auto"
    ship_compiled: bool = True
    sftp: bool | Literal["require"] = True
    backend: Backend = "kernel"
    forwarding: ForwardingPolicy = field(default_factory=ForwardingPolicy)


class BridgePolicy(ServerPolicy):
    """Session channels with ``pty-req``, ``env``, ``shell``, ``exec``, ``window-change``
    (and the ``sftp`` subsystem when available), and port forwarding as the bridge's
    :class:`~jupyssh.bridge.forwarding.ForwardingPolicy` allows; everything else stays
    denied: no agent or X11 forwarding. Hooks run on the transport thread; a forward's
    open and a ``tcpip-forward`` wait there for the agent's answer (bounded), because
    paramiko answers them when the hook returns."""

    bridge: BridgeServer

    def __init__(
        self, connection: Connection, bridge: BridgeServer, *, allow_none: bool = False
    ) -> None:
        super().__init__(connection, bridge.authorized_keys, allow_none=allow_none)
        self.bridge = bridge
        self.requests: dict[int, ChannelRequest] = {}
        self.started: dict[int, BridgeChannel | TerminalChannel] = {}
        #: Forwards whose socket is connected, by channel, until their channel opens.
        self.forwards: dict[int, ForwardChannel] = {}
        self.remote: RemoteForwards | None = None
        self._lock = threading.Lock()

    # --- port forwarding ---------------------------------------------------------------------

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        host, port = destination
        if not self.bridge.forwarding.allows_open(host, port):
            log.info(
                "connection %d: forward to %s:%d refused by policy", self.connection.id, host, port
            )
            return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        return self._open_forward(chanid, {"host": host, "port": port}, f"{host}:{port}")

    def _open_forward(self, chanid: int, target: dict[str, Any], where: str) -> int:
        """Have the agent connect to ``target``; the channel opens only if it did, as
        sshd answers "connect failed" for a refused connect."""
        session = self.bridge.session_for(self.connection)
        forward = ForwardChannel(self.bridge.io, session, chanid)
        reply = self._wait_for_agent(forward.connect(target), f"forward to {where}")
        if reply is None:
            return OPEN_FAILED_CONNECT_FAILED
        if not reply.get("ok"):
            log.info(
                "connection %d: connect to %s failed: %s",
                self.connection.id,
                where,
                reply.get("message"),
            )
            return OPEN_FAILED_CONNECT_FAILED
        with self._lock:
            self.forwards[chanid] = forward
        return OPEN_SUCCEEDED

    def _open_streamlocal(self, chanid: int) -> int:
        """``ssh -L`` to a Unix socket: its path follows what paramiko read of the open."""
        message = self.connection.channel_open
        if not self.bridge.forwarding.allows_streamlocal() or message is None:
            log.info("connection %d: Unix-socket forward refused by policy", self.connection.id)
            return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        try:
            path = message.get_text()
        except (UnicodeDecodeError, paramiko.SSHException):
            return OPEN_FAILED_CONNECT_FAILED
        return self._open_forward(chanid, {"path": path}, path)

    def take_forward(self, chanid: int) -> ForwardChannel | None:
        """The connected forward waiting for channel ``chanid`` (supervisor thread)."""
        with self._lock:
            return self.forwards.pop(chanid, None)

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        policy = self.bridge.forwarding
        if not policy.allows_listen(address, port):
            log.info(
                "connection %d: listen on %s:%d refused by policy",
                self.connection.id,
                address,
                port,
            )
            return False
        with self._lock:
            if self.remote is None:
                session = self.bridge.session_for(self.connection)
                self.remote = RemoteForwards(self.bridge.io, session, self.connection.transport)
            remote = self.remote
        listen = remote.listen(address, policy.bind_host(address), port)
        bound = self._wait_for_agent(listen, f"listen on {address}:{port}")
        return False if bound is None else bound

    def _wait_for_agent(self, work: Coroutine[Any, Any, _T], what: str) -> _T | None:
        """Run ``work`` on the bridge's loop and wait for it here, on the transport thread
        (bounded by :data:`OPEN_TIMEOUT`: the kernel may still be starting); ``None`` if
        it failed: no kernel, a lost kernel, no answer."""
        try:
            return self.bridge.io.submit(work).result(OPEN_TIMEOUT)
        except (
            concurrent.futures.TimeoutError,
            asyncio.TimeoutError,
            JupysshError,
            OSError,
        ) as exc:
            log.info("connection %d: %s failed: %r", self.connection.id, what, exc)
            return None

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        with self._lock:
            remote = self.remote
        if remote is not None:
            self._wait_for_agent(remote.cancel(address, port), f"cancel {address}:{port}")

    # --- session channels ----------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == STREAMLOCAL:
            return self._open_streamlocal(chanid)
        if kind != "session":
            return super().check_channel_request(kind, chanid)
        with self._lock:
            self.requests[chanid] = ChannelRequest()
        return OPEN_SUCCEEDED

    def check_channel_pty_request(  # noqa: PLR0917 - paramiko's signature
        self,
        channel: Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        request = self._request(channel)
        if request is None or channel.get_id() in self.started:
            return False
        name = term.decode("ascii", "replace") if isinstance(term, bytes) else str(term)
        request.pty = PtyRequest(name or "xterm", max(0, width), max(0, height))
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        request = self._request(channel)
        key = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if request is None or not (key in ACCEPTED_ENV or key.startswith(ACCEPTED_ENV_PREFIXES)):
            return False
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        problem = agent.env_problem(key, text)
        if problem is not None:  # execve would refuse it (a NUL, "=" in the name)
            log.warning("connection %d: refused env: %s", self.connection.id, problem)
            return False
        request.env[key] = text
        return True

    def check_channel_shell_request(self, channel: Channel) -> bool:
        return self._start(channel, None)

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        try:
            text = command.decode("utf-8") if isinstance(command, bytes) else str(command)
        except UnicodeDecodeError:
            log.warning("connection %d: refused a command that is not UTF-8", self.connection.id)
            return False
        return self._start(channel, text)

    def check_channel_window_change_request(
        self, channel: Channel, width: int, height: int, pixelwidth: int, pixelheight: int
    ) -> bool:
        started = self.started.get(channel.get_id())
        if started is not None:
            started.resize(max(0, width), max(0, height))
            return True
        request = self._request(channel)
        if request is None or request.pty is None:
            return False
        request.pty.cols, request.pty.rows = max(0, width), max(0, height)
        return True

    def check_channel_subsystem_request(self, channel: Channel, name: str) -> bool:
        if channel.get_id() in self.started:
            return False
        if name == "sftp" and self.bridge.sftp_missing:
            # accepted only to tell the client why, on stderr, then end with status 1
            log.warning("connection %d: sftp asked for: %s", self.connection.id, SFTP_MISSING)
            self.connection.after_request(lambda: end_channel(channel, 1, message=SFTP_MISSING))
            return True
        return super().check_channel_subsystem_request(channel, name)

    def _request(self, channel: Channel) -> ChannelRequest | None:
        with self._lock:
            return self.requests.get(channel.get_id())

    def _start(self, channel: Channel, command: str | None) -> bool:
        chanid = channel.get_id()
        with self._lock:
            request = self.requests.get(chanid)
            if request is None or chanid in self.started:
                return False  # one shell or exec per channel, as sshd
            request.command = command
            started: BridgeChannel | TerminalChannel
            if self.bridge.serves_with_terminal(request):
                started = self.bridge.terminal_for(self.connection, channel, request)
            else:
                session = self.bridge.session_for(self.connection)
                started = BridgeChannel(self.bridge.io, session, channel, request)
            self.started[chanid] = started
        # after paramiko's success reply, or an early exit-status could overtake it
        self.connection.after_request(started.start)
        return True


class BridgeSFTPPolicy(BridgePolicy):
    """:class:`BridgePolicy` plus the ``sftp`` subsystem (``jupyssh-sftp`` installed)."""

    allowed_subsystems: ClassVar[frozenset[str]] = frozenset({"sftp"})


class BridgeServer(SSHServer):
    """The bridge: an :class:`SSHServer` whose session channels run in Jupyter kernels.

    ``client`` is used only on the bridge's loop (its own thread), which this server
    starts in :meth:`bind` and stops in :meth:`close`, after the connections.
    """

    def __init__(
        self,
        client: JupyterClient,
        config: ServerConfig | None = None,
        bridge: BridgeConfig | None = None,
    ) -> None:
        bridge = bridge or BridgeConfig()
        #: The reader the kernels run (the config's, after ``JUPYSSH_NO_EXTENSIONS``);
        #: each kernel's own is its session's ``reader_impl``.
        self.reader = kernel_reader_choice(bridge.reader)
        #: Whether a client asking for ``sftp`` is told to install ``jupyssh-sftp``.
        self.sftp_missing = bool(bridge.sftp) and not sftp_available()
        if bridge.sftp == "require" and self.sftp_missing:
            raise SFTPUnavailableError(SFTP_MISSING)
        super().__init__(config or ServerConfig(max_channels=MAX_CHANNELS))
        self.client = client
        self.bridge_config = bridge
        self.io = LoopThread()
        self.pool = KernelPool(client, bridge.kernel_name, bridge.warm)
        self._sessions: dict[Connection, KernelSession] = {}
        self._terminals: dict[Connection, list[TerminalChannel]] = {}
        self._policies: dict[Connection, BridgePolicy] = {}
        self._sessions_lock = threading.Lock()
        self._backend_stopped = False
        self._sftp: Any = None
        self.io.call(self.pool.fill)
        if bridge.sftp and not self.sftp_missing:
            from jupyssh.sftp import SFTPService  # noqa: PLC0415 - optional package

            self._sftp = SFTPService(client, loop=self.io.loop)

    # --- sessions ----------------------------------------------------------------------------

    @property
    def sessions(self) -> tuple[KernelSession, ...]:
        """The sessions of the connections open now (snapshot)."""
        with self._sessions_lock:
            return tuple(self._sessions.values())

    def backend_for(self, connection: Connection) -> tuple[JupyterClient, KernelPool]:
        """The Jupyter server a connection's channels run in, and its kernel pool: this
        server's one (a subclass serving many Jupyter servers picks per connection)."""
        return self.client, self.pool

    def session_for(self, connection: Connection) -> KernelSession:
        """The connection's session, made and started on first use (transport thread;
        returns at once)."""
        with self._sessions_lock:
            session = self._sessions.get(connection)
            if session is None:
                client, pool = self.backend_for(connection)
                session = KernelSession(
                    client,
                    pool,
                    f"connection {connection.id}",
                    reader=self.reader,
                    ship_compiled=self.bridge_config.ship_compiled,
                )
                self._sessions[connection] = session
                self.io.submit(session.start())
            return session

    def serves_with_terminal(self, request: ChannelRequest) -> bool:
        """Whether this channel's request goes to a Jupyter terminal: the terminals
        backend, a shell (no command) and a PTY — what a terminal can honestly be."""
        return (
            self.bridge_config.backend == "terminals"
            and request.command is None
            and request.pty is not None
        )

    def terminal_for(
        self, connection: Connection, channel: Channel, request: ChannelRequest
    ) -> TerminalChannel:
        """A new terminal channel, remembered so that the connection's end deletes its
        terminal (transport thread; returns at once)."""
        terminal = TerminalChannel(self.io, self.backend_for(connection)[0], channel, request)
        with self._sessions_lock:
            # a long-lived connection (ControlMaster) may open many shells: forget ended ones
            live = [t for t in self._terminals.get(connection, []) if not t.stopped]
            self._terminals[connection] = [*live, terminal]
        return terminal

    # --- SSHServer hooks ---------------------------------------------------------------------

    def make_policy(self, connection: Connection) -> paramiko.ServerInterface:
        kind = BridgeSFTPPolicy if self._sftp is not None else BridgePolicy
        policy = kind(connection, self, allow_none=self.config.insecure_no_auth)
        with self._sessions_lock:
            self._policies[connection] = policy
        return policy

    @property
    def forwarding(self) -> ForwardingPolicy:
        return self.bridge_config.forwarding

    def on_channel(self, connection: Connection, channel: Channel) -> None:
        """A forward's channel opened: start carrying its bytes."""
        with self._sessions_lock:
            policy = self._policies.get(connection)
        forward = None if policy is None else policy.take_forward(channel.get_id())
        if forward is not None:
            forward.start(channel)

    def on_transport(self, transport: paramiko.Transport, connection: Connection) -> None:
        if self._sftp is not None:
            from jupyssh.sftp import install  # noqa: PLC0415 - optional package

            install(transport, self._sftp)

    def on_connection_closed(self, connection: Connection) -> None:
        """Stop the connection's processes, delete its terminals and its kernel
        (supervisor thread)."""
        with self._sessions_lock:
            session = self._sessions.pop(connection, None)
            terminals = self._terminals.pop(connection, [])
            self._policies.pop(connection, None)
        self._stop_terminals(terminals)
        if session is None:
            return
        try:
            self.io.submit(session.close()).result(CLOSE_TIMEOUT)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:
            log.warning("%s: cleanup did not finish: %r", session.name, exc)

    def _stop_terminals(self, terminals: list[TerminalChannel]) -> None:
        for terminal in terminals:
            try:
                self.io.submit(terminal.stop()).result(CLOSE_TIMEOUT)
            except (concurrent.futures.TimeoutError, RuntimeError) as exc:
                log.warning("terminal channel %d: cleanup did not finish: %r", terminal.number, exc)

    # --- lifecycle ---------------------------------------------------------------------------

    def on_server_closed(self) -> None:
        self._stop_backend()

    def _stop_backend(self) -> None:
        """Delete the warm kernels and the sessions still open, stop the loop (once)."""
        if self._backend_stopped:
            return
        self._backend_stopped = True
        with self._sessions_lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            terminals = [t for ts in self._terminals.values() for t in ts]
            self._terminals.clear()
        self._stop_terminals(terminals)
        for session in sessions:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self.io.submit(session.close()).result(CLOSE_TIMEOUT)
        self.close_backends()
        self.io.stop()

    def close_backends(self) -> None:
        """Delete the warm kernels, close the sftp service and the client (once every
        session has ended, before the loop stops; a subclass closes its own too)."""
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.io.submit(self.pool.close()).result(CLOSE_TIMEOUT)
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.io.submit(self.client.aclose()).result(5.0)
