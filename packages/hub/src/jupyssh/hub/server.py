"""The hub's SSH server: jupyssh-bridge's server, serving every user of a JupyterHub.

A login as ``alice`` is checked against the keys in alice's own server
(:mod:`jupyssh.hub.keys`), read through the hub's proxy with the service's token at each
login; her commands, shells and sftp then run in her server (a kernel, or a terminal, of
it), exactly as the bridge runs them in its one server. Each user gets one client, one
kernel pool and one sftp service, made at their first login and kept until the service
stops; each connection still gets its own kernel, deleted when it ends.

Deny by default: a user the hub does not know, whose server is not running, or whose
server holds no matching key, gets nothing; passwords and keyboard-interactive are never
offered; no forwarding.

With a :class:`~jupyssh.hub.websocket.WebSocketConfig`, the same server is also reached as
SSH over a WebSocket at the service's URL (:mod:`jupyssh.hub.websocket`): the user whose hub
token opened the WebSocket is the only one that connection may log in as.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, cMSG_USERAUTH_BANNER
from paramiko.message import Message

from jupyssh.bridge.forwarding import ForwardingPolicy
from jupyssh.bridge.pool import KernelPool
from jupyssh.bridge.server import CLOSE_TIMEOUT, BridgeConfig, BridgePolicy, BridgeServer
from jupyssh.core.errors import JupysshError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import AuthorizedKey, Connection, ServerConfig, fingerprint
from jupyssh.hub.errors import HubAPIError
from jupyssh.hub.hubapi import HubAPI, HubService, Login, UserServer
from jupyssh.hub.keys import user_keys
from jupyssh.hub.websocket import WebSocketConfig, WebSocketGate, require_loopback
from jupyssh.sftp import SFTPService
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.subsystem import JupyterSFTPServer

__all__ = [
    "AUTH_TIMEOUT",
    "HubOptions",
    "HubPolicy",
    "HubServer",
    "Lookup",
    "UserBackend",
    "no_key",
    "not_opener",
    "not_running",
]

log = logging.getLogger(__name__)

#: Seconds a login waits for the hub and the user's server to say which keys may log in
#: (plus the server's start, when it is started at login).
AUTH_TIMEOUT = 20.0


#: What one connection may make the service ask the hub (new user names, passwords), as
#: sshd's MaxAuthTries bounds a connection's attempts.
MAX_QUESTIONS = 6


def no_key_name(name: str) -> str:
    """A login name as a reason may show it: never control characters or a path."""
    return name if Login.parse(name) is not None else "that name"


def no_key(user: str) -> str:
    """What a client is told when no key of theirs may log in as ``user`` (the same whether
    or not the hub knows ``user``: the line tells nobody which users exist)."""
    name = no_key_name(user)
    return (
        f"no key of yours may log in as {name}: put your public key in "
        "~/.ssh/authorized_keys in your server on the hub, then log in again"
    )


def not_opener(opener: str) -> str:
    """What a client is told when it logs in as another user than the one whose hub token
    opened its WebSocket."""
    return f"this connection came with {opener}'s hub token: log in as {opener}"


def not_running(login: Login) -> str:
    return f"{login.server_label} is not running: start it on the hub, then log in again"


@dataclass(frozen=True)
class HubOptions:
    """How the service treats users' servers.

    :param start_servers: start a user's stopped server at login (through the hub, with
        the ``servers`` scope), showing progress lines to the client.
    :param start_timeout: seconds a login waits for a server to start.
    :param token_password: also accept the user's hub API token typed as the password
        (checked against the hub; it must reach the user's server).
    :param max_per_user: authenticated connections one user may have at once (the global
        limit is core's ``ServerConfig.max_connections``).
    :param warm_kernels: kernels kept started in each server once its user has logged in,
        so that their next logins skip a kernel's start (deleted when the service stops).
    """

    start_servers: bool = True
    start_timeout: float = 60.0
    token_password: bool = False
    max_per_user: int = 10
    warm_kernels: int = 0


@dataclass(frozen=True)
class Lookup:
    """The keys that may log in as a user, and why there are none (shown to the client)."""

    keys: tuple[AuthorizedKey, ...]
    reason: str | None = None


@dataclass(frozen=True)
class UserBackend:
    """What one user's sessions run on: their server's client, kernel pool and sftp."""

    user: str
    url: str
    client: JupyterClient
    pool: KernelPool
    sftp: SFTPService | None


def _unused_key_file() -> str:
    public = Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")
    return (
        "# jupyssh-hub: keys come from each user's server; this file is never read to log\n"
        "# anyone in, and the private half of this key was never kept\n"
        f"{line} jupyssh-hub-unused\n"
    )


class HubPolicy(BridgePolicy):
    """The bridge's channels and sftp, authenticated by the keys in the user's own server.

    The keys are fetched once per user name and connection, on the transport thread: only
    this connection waits (it has no channel yet), bounded by :data:`AUTH_TIMEOUT`.
    """

    allowed_subsystems: ClassVar[frozenset[str]] = frozenset({"sftp"})
    hub: HubServer

    def __init__(
        self, connection: Connection, hub: HubServer, *, opener: str | None = None
    ) -> None:
        super().__init__(connection, hub)
        self.hub = hub
        #: the hub user whose token opened this connection's WebSocket (None: TCP)
        self.opener = opener
        self._keys: dict[str, Lookup] = {}
        self._told: set[str] = set()
        self._questions = 0  # to the hub, on this connection: bounded by MAX_QUESTIONS

    def _may_ask(self) -> bool:
        """Whether this connection may still make the hub look something up (each new
        user name, each password typed): one client must not make the service query (or
        start servers) without end."""
        self._questions += 1
        return self._questions <= MAX_QUESTIONS

    def _not_the_opener(self, username: str) -> bool:
        """Whether ``username`` is another user than the one whose hub token opened this
        connection's WebSocket (told to the client once)."""
        if self.opener is None:
            return False
        login = Login.parse(username)
        if login is not None and login.user == self.opener:
            return False
        if f"opener:{username}" not in self._told:
            self._told.add(f"opener:{username}")
            self.say(not_opener(self.opener))
        return True

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key.public_blob is not None:  # certificates: not handled, refused
            return AUTH_FAILED
        if self._not_the_opener(username):
            return AUTH_FAILED
        lookup = self._keys.get(username)
        if lookup is None:
            if not self._may_ask():
                return AUTH_FAILED
            lookup = self._keys[username] = self.hub.keys_of(username, self.say)
        blob = key.asbytes()
        # every entry compared, in constant time each, as core's AuthorizedKeys.match
        matches = [entry for entry in lookup.keys if hmac.compare_digest(entry.blob, blob)]
        if not matches:
            log.debug(
                "connection %d: key %s not authorized for %s",
                self.connection.id,
                fingerprint(key),
                username,
            )
            if username not in self._told:  # once, however many keys the client offers
                self._told.add(username)
                self.say(lookup.reason or no_key(username))
            return AUTH_FAILED
        return self._admit(username, "publickey", fingerprint(key))

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password" if self.hub.options.token_password else "publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        """The user's hub API token as the password, when the service allows it."""
        if not self.hub.options.token_password or self._not_the_opener(username):
            return AUTH_FAILED
        if not self._may_ask():
            return AUTH_FAILED
        refusal = self.hub.token_login(username, password, self.say)
        if refusal is not None:
            if f"token:{username}" not in self._told:
                self._told.add(f"token:{username}")
                self.say(refusal)
            return AUTH_FAILED
        return self._admit(username, "password", None)

    def _admit(self, name: str, method: str, key_fingerprint: str | None) -> int:
        """Succeed unless the user already has as many connections as the service allows
        (all their servers together)."""
        login = Login.parse(name)
        user = login.user if login is not None else name
        if not self.hub.hold_slot(user, self.connection):
            if f"full:{user}" not in self._told:
                self._told.add(f"full:{user}")
                limit = self.hub.options.max_per_user
                self.say(f"{user} has {limit} connections open, the most allowed; close one")
            return AUTH_FAILED
        self.connection.note_auth(method, key_fingerprint)
        self.hub.warm_up(name)
        return AUTH_SUCCESSFUL

    def say(self, line: str) -> None:
        """Show ``line`` to the client now, before authentication ends (an SSH banner:
        OpenSSH prints it on stderr). Any thread: paramiko serializes what it sends."""
        message = Message()
        message.add_byte(cMSG_USERAUTH_BANNER)
        message.add_string(f"jupyssh-hub: {line}\n")
        message.add_string("")
        # paramiko sends banners only from get_banner(), before the user name is known;
        # its own auth handler sends this message the same way.
        transport: Any = self.connection.transport
        transport._send_message(message)


class HubServer(BridgeServer):
    """One SSH endpoint for every user of the hub ``service`` describes.

    ``config`` is core's server configuration (its authorized_keys is not used: keys come
    from each user's server); ``bridge`` the bridge's (kernel name, backend, reader, sftp);
    ``websocket``, when given, where SSH over WebSocket is served too (bound with the TCP
    listener, closed with the server).
    """

    def __init__(
        self,
        service: HubService,
        config: ServerConfig | None = None,
        bridge: BridgeConfig | None = None,
        options: HubOptions | None = None,
        websocket: WebSocketConfig | None = None,
    ) -> None:
        if websocket is not None and not (config or ServerConfig()).allow_non_loopback:
            require_loopback(websocket.host)  # before anything is made that needs closing
        # Port forwarding stays off for hub users until the hub offers its policy options
        # (the bridge's default is sshd's: on).
        bridge = bridge or BridgeConfig(forwarding=ForwardingPolicy(forwarding="none"))
        self.service = service
        self.options = options or HubOptions()
        self.serves_sftp = bool(bridge.sftp)
        # Core's server loads an authorized_keys file before it listens (and warns when it
        # holds no key); this server's keys are in users' servers and HubPolicy never reads
        # that file. So it gets one of its own, removed at close, holding a throwaway key
        # whose private half is never kept.
        self._no_keys_dir = Path(tempfile.mkdtemp(prefix="jupyssh-hub-"))
        no_keys = self._no_keys_dir / "authorized_keys"
        no_keys.write_text(_unused_key_file(), encoding="ascii")
        no_keys.chmod(0o600)
        config = replace(config or ServerConfig(), authorized_keys=no_keys)
        # The bridge's own client and pool serve no session here (backend_for picks the
        # user's); the client points at the proxy and is closed with the rest.
        hub_client = JupyterClient(service.proxy_url, token=service.token)
        super().__init__(hub_client, config, replace(bridge, sftp=False, warm=0))
        self.hub_api = HubAPI(service)
        self._users: dict[str, UserBackend] = {}
        #: Backends of servers that moved (restarted elsewhere), closed at the end.
        self._retired: list[UserBackend] = []
        #: Each user's authenticated connections (their slots, up to max_per_user).
        self._slots: dict[str, set[Connection]] = {}
        self._users_lock = threading.Lock()
        self.gate = (
            None if websocket is None else WebSocketGate(websocket, self._identify, self._take)
        )
        #: who opened each WebSocket's socket, until its connection's policy is made
        self._openers: dict[int, str] = {}

    # --- SSH over WebSocket ------------------------------------------------------------------

    def bind(self) -> None:
        """Bind the SSH listener, then the WebSocket one (if any). Idempotent."""
        super().bind()
        if self.gate is not None:
            try:
                self.gate.start()
            except BaseException:
                self.close()  # a half-bound server leaves no listener, thread or file
                raise

    @property
    def websocket_address(self) -> tuple[str, int] | None:
        """(host, port) of the WebSocket listener once bound; None without one."""
        return None if self.gate is None else self.gate.address

    async def _identify(self, token: str) -> str | None:
        """Whose hub API token ``token`` is (it must reach that user's server); the gate's
        loop calls it, the hub is asked on the bridge's."""
        return await asyncio.wrap_future(self.io.submit(self.hub_api.token_user(token)))

    def _take(self, sock: socket.socket, peer: tuple[str, int], opener: str) -> str | None:
        """Start an SSH connection on ``sock`` (one end of a WebSocket's socket pair) for
        the WebSocket ``opener``'s token opened, under the same limits as a TCP one; the
        reason it was not, else None. The gate's executor threads."""
        refusal = self._pre_auth_refusal(peer[0])
        if refusal is not None:
            log.info("dropping WebSocket connection of %s: %s", opener, refusal)
            return "too many connections waiting to log in; try again"
        with self._users_lock:
            self._openers[id(sock)] = opener
        try:
            self._start_connection(sock, peer)
        finally:
            with self._users_lock:
                self._openers.pop(id(sock), None)
        return None

    # --- users -------------------------------------------------------------------------------

    def keys_of(self, name: str, say: Callable[[str], None]) -> Lookup:
        """The keys that may log in as ``name`` (``alice``, or ``alice:gpu`` for a named
        server) now: none unless the hub knows the user and the server runs (started now if
        need be, ``say`` telling the client how it goes). Transport thread; waits, bounded."""
        login = Login.parse(name)
        if login is None:
            log.info("refused login as %r: not a hub user (or server) name", name)
            return Lookup(())
        try:
            return self.io.submit(self._keys_of(login, say)).result(self._wait)
        except concurrent.futures.TimeoutError:
            log.warning(
                "login as %s: the hub or the server did not answer in %gs", login, self._wait
            )
            return Lookup((), f"the hub did not answer within {self._wait:g} s; try again")
        except JupysshError as exc:
            log.warning("login as %s: %s", login, exc)
            return Lookup((), f"the hub could not be asked: {exc.message}")

    @property
    def _wait(self) -> float:
        """How long a login may wait for the hub (and a server's start)."""
        return AUTH_TIMEOUT + (self.options.start_timeout if self.options.start_servers else 0)

    async def _keys_of(self, login: Login, say: Callable[[str], None]) -> Lookup:
        server = await self._ready_server(login, say)
        if not isinstance(server, UserServer):
            return Lookup((), server)
        backend = self._backend(login, server.url)
        return Lookup(await user_keys(backend.client, str(login)))

    def token_login(self, name: str, token: str, say: Callable[[str], None]) -> str | None:
        """``None`` if ``token`` is the hub API token of the user ``name`` names and the
        server runs (started now if need be); else the reason to show. Transport thread;
        waits, bounded."""
        login = Login.parse(name)
        if login is None or not token:
            return f"the hub did not accept that token for {no_key_name(name)}"
        try:
            return self.io.submit(self._token_login(login, token, say)).result(self._wait)
        except concurrent.futures.TimeoutError:
            log.warning("login as %s: the hub did not answer in %gs", login, self._wait)
            return f"the hub did not answer within {self._wait:g} s; try again"
        except JupysshError as exc:
            log.warning("login as %s: %s", login, exc)
            return f"the hub could not be asked: {exc.message}"

    async def _token_login(
        self, login: Login, token: str, say: Callable[[str], None]
    ) -> str | None:
        if await self.hub_api.token_user(token, login.server) != login.user:
            log.info("login as %s: the hub did not accept the token typed", login)
            return f"the hub did not accept that token for {login}"
        server = await self._ready_server(login, say)
        if not isinstance(server, UserServer):
            return server or not_running(login)
        self._backend(login, server.url)
        return None

    async def _ready_server(
        self, login: Login, say: Callable[[str], None]
    ) -> UserServer | str | None:
        """The ready server ``login`` names (started now if need be and allowed), or the
        reason there is none, or ``None`` when the hub has no such user."""
        server = await self.hub_api.user_server(login.user, login.server)
        if server is not None and server.ready:
            return server
        if not self.options.start_servers:
            log.info("login as %s: no server running", login)
            return not_running(login)
        return await self._start(login, say)

    async def _start(self, login: Login, say: Callable[[str], None]) -> UserServer | str | None:
        """Start the server ``login`` names and wait for it: the server, the reason it did
        not start, or ``None`` when the hub has no such user (no reason: the caller's is
        uniform)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        if not await self.hub_api.start_server(login.user, login.server):
            return None
        log.info("login as %s: starting %s", login, login.server_label)
        say(f"starting {login.server_label} on the hub ...")
        try:
            server = await self.hub_api.wait_ready(
                login.user, self.options.start_timeout, server_name=login.server
            )
        except HubAPIError as exc:
            log.warning("login as %s: %s", login, exc)
            return f"could not start {login.server_label}: {exc.message}"
        say(f"{login.server_label} is ready ({loop.time() - began:.1f} s)")
        return server

    def _backend(self, login: Login, url: str) -> UserBackend:
        """The backend of the server ``login`` names (keyed by the login name, which is
        what the transport remembers), made or remade when its URL changed."""
        name = str(login)
        with self._users_lock:
            backend = self._users.get(name)
            if backend is None or backend.url != url:
                client = JupyterClient(url, token=self.service.token)
                sftp = SFTPService(client, loop=self.io.loop) if self.serves_sftp else None
                pool = KernelPool(client, self.bridge_config.kernel_name, self.options.warm_kernels)
                backend = UserBackend(name, url, client, pool, sftp)
                # a server that moved: the old one's sessions keep their client until the end
                if name in self._users:
                    self._retired.append(self._users[name])
                self._users[name] = backend
            return backend

    def warm_up(self, name: str) -> None:
        """Start the warm kernels of the server ``name`` logs in to (``warm_kernels``), now
        that someone did log in there: a failed login starts none. Transport thread."""
        with self._users_lock:
            backend = self._users.get(name)
        if backend is not None and backend.pool.warm:
            self.io.call(backend.pool.fill)

    def hold_slot(self, user: str, connection: Connection) -> bool:
        """Count ``connection`` among ``user``'s, unless they have the most allowed
        (idempotent: paramiko may accept the same connection twice). Transport thread."""
        with self._users_lock:
            held = self._slots.setdefault(user, set())
            if connection in held:
                return True
            if len(held) >= self.options.max_per_user:
                return False
            held.add(connection)
            return True

    def on_connection_closed(self, connection: Connection) -> None:
        with self._users_lock:
            for held in self._slots.values():
                held.discard(connection)
        super().on_connection_closed(connection)

    def user_of(self, connection: Connection) -> UserBackend:
        """The backend of the user a connection authenticated as."""
        user = connection.transport.get_username()
        with self._users_lock:
            backend = self._users.get(user or "")
        if backend is None:  # authenticated means keys were read, so a backend exists
            raise RuntimeError(f"connection {connection.id}: no backend for {user!r}")
        return backend

    # --- BridgeServer and SSHServer hooks ------------------------------------------------------

    def backend_for(self, connection: Connection) -> tuple[JupyterClient, KernelPool]:
        backend = self.user_of(connection)
        return backend.client, backend.pool

    def make_policy(self, connection: Connection) -> paramiko.ServerInterface:
        with self._users_lock:
            opener = self._openers.get(id(connection.transport.sock))
        return HubPolicy(connection, self, opener=opener)

    def on_transport(self, transport: paramiko.Transport, connection: Connection) -> None:
        if self.serves_sftp:
            transport.set_subsystem_handler("sftp", JupyterSFTPServer, self._sftp_interface)

    def _sftp_interface(self, server: paramiko.ServerInterface, *args: Any) -> Any:
        """paramiko's ``SFTPServerInterface`` factory: the session's user's service."""
        if not isinstance(server, HubPolicy):
            raise TypeError("sftp outside a hub connection")
        sftp = self.user_of(server.connection).sftp
        if sftp is None:
            raise RuntimeError("sftp is off")
        return JupyterSFTPInterface(server, sftp, *args)

    def close_backends(self) -> None:
        if self.gate is not None:
            self.gate.stop()
        with self._users_lock:
            backends = [*self._users.values(), *self._retired]
            self._users.clear()
            self._retired.clear()
        for backend in backends:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self.io.submit(backend.pool.close()).result(CLOSE_TIMEOUT)
            if backend.sftp is not None:
                with contextlib.suppress(Exception):
                    backend.sftp.close()
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self.io.submit(backend.client.aclose()).result(5.0)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.io.submit(self.hub_api.aclose()).result(5.0)
        super().close_backends()
        shutil.rmtree(self._no_keys_dir, ignore_errors=True)
