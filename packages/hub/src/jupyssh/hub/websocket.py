"""SSH over a WebSocket at the service's own URL, through the hub's proxy.

The hub's proxy routes ``/services/<name>/`` to the URL a service is declared with
(``c.JupyterHub.services``), so a hub reachable on HTTPS is also reachable for SSH, with no
port 22 and no load balancer of its own: ``jupyssh tunnel ws-proxy`` (ssh's ProxyCommand)
opens a WebSocket there and carries ssh's bytes in binary frames.

Each WebSocket must be opened with a hub user's API token (``Authorization: token …``, as
ws-proxy sends it from an environment variable), which the hub checks; its bytes then become
one SSH connection of the hub's server, handed over as one end of a socket pair as if it had
come in on the TCP port (same limits, same host key). The token says who opened the
WebSocket; the SSH login must be that same user, and still proves itself with a key of
theirs (or, behind the flag, the token as the password).

The listener runs on its own loop thread, apart from the bridge's loop (Jupyter calls), so
that bulk bytes through it do not queue behind kernel messages; the token check goes to the
hub through the caller's ``identify``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from jupyssh.bridge.loop import LoopThread
from jupyssh.core.errors import ConfigError, JupysshError, ServerConfigError
from jupyssh.core.jupyter import RedactingLogger
from jupyssh.core.server.options import parse_listen

__all__ = [
    "DEFAULT_PREFIX",
    "IDENTIFY_TIMEOUT",
    "PREFIX_ENV",
    "SERVICE_URL_ENV",
    "WebSocketConfig",
    "WebSocketGate",
    "request_token",
    "require_loopback",
    "service_path",
    "websocket_config",
]

log = logging.getLogger(__name__)

#: The path the hub's proxy routes to a service named ``jupyssh``.
DEFAULT_PREFIX = "/services/jupyssh/"
#: What a hub tells a managed service: where to listen, and the path it is routed.
SERVICE_URL_ENV = "JUPYTERHUB_SERVICE_URL"
PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"
#: Seconds the hub may take to say whose a token is.
IDENTIFY_TIMEOUT = 20.0
#: Bytes read from the SSH side at once, and at most gathered into one frame: the SSH
#: server writes one packet (32 KiB at most) at a time, and a frame per packet would cost
#: this side and the client's proxy a frame's work for each.
CHUNK = 256 * 1024
FRAME = 1024 * 1024
#: Bytes a WebSocket may hold unsent before a send waits (websockets' default is 32 KiB,
#: which would make every frame wait for the last).
WRITE_LIMIT = 4 * 1024 * 1024
#: Largest frame accepted from a client: ws-proxy sends at most 256 KiB.
MAX_FRAME = 4 * 1024 * 1024
#: Seconds a closing WebSocket waits for the SSH side to finish its last bytes.
DRAIN_TIMEOUT = 5.0

#: What a hand-over of a socket pair end answers: a refusal to tell the client, or None.
Accept = Callable[[socket.socket, tuple[str, int], str], "str | None"]
#: Whose hub API token this is (``None`` if the hub refuses it).
Identify = Callable[[str], Awaitable["str | None"]]


@dataclass(frozen=True)
class WebSocketConfig:
    """Where the WebSocket listener listens, and the path the hub's proxy sends it.

    :param host: address to bind (loopback unless the server allows others).
    :param port: TCP port; 0 picks a free one.
    :param prefix: the service's prefix under the hub (``$JUPYTERHUB_SERVICE_PREFIX``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    prefix: str = DEFAULT_PREFIX


def websocket_config(
    environ: Mapping[str, str], *, listen: str | None = None, prefix: str | None = None
) -> WebSocketConfig | None:
    """The listener ``jupyssh hub serve`` runs: at ``listen`` (``HOST:PORT``), else where
    ``$JUPYTERHUB_SERVICE_URL`` says (the hub sets it for a managed service declared with a
    ``url``); None when neither is given. The path: ``prefix``, else
    ``$JUPYTERHUB_SERVICE_PREFIX``, else :data:`DEFAULT_PREFIX`. Raises ``ConfigError``."""
    path = service_path(prefix or environ.get(PREFIX_ENV) or DEFAULT_PREFIX)
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ConfigError:
            raise ConfigError(
                f"--ws-listen {listen!r}: expected HOST:PORT with a port 0-65535",
                hint="e.g. --ws-listen 127.0.0.1:8022 (the url the service is declared with)",
            ) from None
        return WebSocketConfig(host, port, path)
    url = environ.get(SERVICE_URL_ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    try:
        service_port = parts.port
    except ValueError:
        service_port = None
    if parts.scheme != "http" or not parts.hostname or service_port is None:
        raise ConfigError(
            f"${SERVICE_URL_ENV} is not http://HOST:PORT: {url}",
            hint="declare the service's url as http://HOST:PORT, or give --ws-listen",
        )
    return WebSocketConfig(parts.hostname, service_port, path)


def service_path(prefix: str) -> str:
    """``prefix`` as a path with one leading and one trailing slash."""
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"


def require_loopback(host: str) -> None:
    """Raise ``ServerConfigError`` unless ``host`` is a loopback address (the WebSocket
    listener, like the SSH one, binds others only when allowed)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ServerConfigError(
            "refusing to serve WebSockets on a non-loopback address",
            where=host,
            hint="bind 127.0.0.1 (the hub's proxy on the same machine), or allow "
            "non-loopback explicitly when the proxy runs elsewhere",
        )


def request_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: token …`` (or ``Bearer …``) header, else None."""
    value = headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in {"token", "bearer"} or not token.strip():
        return None
    return token.strip()


class WebSocketGate:
    """The WebSocket listener of a hub server: checks each opener's token with ``identify``
    and hands the connection's bytes to ``accept`` (the SSH server) as a socket.

    :meth:`start` binds (and returns once bound); :meth:`stop` closes the listener and every
    WebSocket still open. Called by :class:`~jupyssh.hub.server.HubServer`.
    """

    def __init__(self, config: WebSocketConfig, identify: Identify, accept: Accept) -> None:
        self.config = config
        self.path = service_path(config.prefix)
        self._identify = identify
        self._accept = accept
        self._io: LoopThread | None = None
        self._server: Server | None = None
        #: who each WebSocket's token names, from its handshake to its handler
        self._openers: dict[int, str] = {}
        self._address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) bound."""
        if self._address is None:
            raise RuntimeError("start() first")
        return self._address

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve on a loop thread of its own; returns once listening."""
        if self._io is not None:
            return
        self._io = LoopThread("jupyssh-hub-websocket")
        try:
            self._server = self._io.submit(self._serve()).result(timeout)
        except OSError as exc:
            self.stop()
            raise ServerConfigError(
                f"cannot listen for WebSockets ({exc.strerror or exc})",
                where=f"{self.config.host}:{self.config.port}",
                hint="pick another port (the service's url), or stop what is using this one",
            ) from exc
        sockname = next(iter(self._server.sockets)).getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))
        log.info("SSH over WebSocket on %s port %d, path %s", *self._address, self.path.rstrip("/"))

    async def _serve(self) -> Server:
        server: Server = await serve(
            self._carry,
            self.config.host,
            self.config.port,
            process_request=self._check,
            compression=None,  # ssh's bytes are encrypted: nothing to gain
            max_size=MAX_FRAME,
            write_limit=WRITE_LIMIT,
            # websockets logs each handshake's headers at DEBUG: never a token
            logger=RedactingLogger(logging.getLogger("websockets.server")),
        )
        return server

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every open WebSocket (their SSH connections end with
        them), then the loop thread. Idempotent."""
        io, server = self._io, self._server
        if io is None:
            return
        self._io = self._server = None
        if server is not None:

            async def close() -> None:
                server.close()
                await server.wait_closed()

            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                io.submit(close()).result(timeout)
        io.stop(timeout)

    # --- one WebSocket -----------------------------------------------------------------------

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake's gate (websockets' ``process_request``): a response refuses,
        ``None`` lets the WebSocket open."""
        path = urlsplit(request.path).path
        if path.rstrip("/") != self.path.rstrip("/"):
            return _answer(connection, http.HTTPStatus.NOT_FOUND, f"use {self.path}")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # a browser, or the hub checking that its service is up
            return _answer(
                connection,
                http.HTTPStatus.OK,
                "SSH over WebSocket: ssh -o ProxyCommand='jupyssh tunnel ws-proxy URL' USER@hub "
                "(the token in $JUPYTER_TOKEN, or the variable --token-env names)",
            )
        token = request_token(request.headers)
        if token is None:
            return _answer(
                connection,
                http.HTTPStatus.UNAUTHORIZED,
                "no token: send your hub API token (Authorization: token ...)",
            )
        try:
            user = await asyncio.wait_for(self._identify(token), IDENTIFY_TIMEOUT)
        except (asyncio.TimeoutError, JupysshError) as exc:
            log.warning("WebSocket from %s: the hub could not be asked: %s", _peer(connection), exc)
            return _answer(
                connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "the hub could not be asked"
            )
        if user is None:
            log.info("WebSocket from %s: the hub did not accept its token", _peer(connection))
            return _answer(
                connection, http.HTTPStatus.FORBIDDEN, "the hub did not accept that token"
            )
        self._openers[id(connection)] = user
        return None

    async def _carry(self, connection: ServerConnection) -> None:
        """Hand the SSH server one end of a socket pair, then carry bytes between the other
        end and the WebSocket until either side ends (websockets' handler)."""
        user = self._openers.pop(id(connection), None)
        if user is None:  # not through _check: cannot happen, refuse all the same
            await connection.close(1008, "no token")
            return
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        try:
            refusal = await loop.run_in_executor(
                None, self._accept, theirs, _peer(connection), user
            )
        except Exception:
            log.exception("WebSocket from %s: could not start its SSH connection", user)
            refusal = "the SSH server could not take the connection"
        if refusal is not None:
            theirs.close()
            ours.close()
            await connection.close(1013, refusal[:120])  # 1013: try again later
            return
        ours.setblocking(False)
        try:
            await _pump(connection, ours)
        finally:
            ours.close()


async def _pump(connection: ServerConnection, sock: socket.socket) -> None:
    """Client → SSH server and SSH server → client, until the SSH side ends (then the
    WebSocket is closed) or the client's does (then the SSH side sees end of file)."""
    loop = asyncio.get_running_loop()

    async def inbound() -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            async for message in connection:
                data = message.encode() if isinstance(message, str) else message
                await loop.sock_sendall(sock, data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    async def outbound() -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            while data := await loop.sock_recv(sock, CHUNK):
                await connection.send(_gather(sock, data))

    to_server = asyncio.create_task(inbound())
    to_client = asyncio.create_task(outbound())
    done, _ = await asyncio.wait({to_server, to_client}, return_when=asyncio.FIRST_COMPLETED)
    if to_server in done:  # the client is gone: let the SSH side finish, bounded
        await asyncio.wait({to_client}, timeout=DRAIN_TIMEOUT)
    to_client.cancel()
    to_server.cancel()
    await asyncio.gather(to_server, to_client, return_exceptions=True)
    await connection.close()


def _gather(sock: socket.socket, first: bytes) -> bytes:
    """``first`` and whatever else the (non-blocking) socket holds now, up to a frame."""
    parts = [first]
    size = len(first)
    while size < FRAME:
        try:
            more = sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            break
        if not more:
            break  # end of file: the next sock_recv sees it too
        parts.append(more)
        size += len(more)
    return b"".join(parts) if len(parts) > 1 else first


def _answer(connection: ServerConnection, status: http.HTTPStatus, text: str) -> Response:
    return connection.respond(status, f"jupyssh-hub: {text}\n")


def _peer(connection: ServerConnection) -> tuple[str, int]:
    address = connection.remote_address
    try:
        return str(address[0]), int(address[1])
    except (TypeError, IndexError, ValueError):
        return ("websocket", 0)
