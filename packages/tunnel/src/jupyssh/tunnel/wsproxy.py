"""SSH over WebSocket: a ProxyCommand that bridges ssh's stdin/stdout to a ``/sshd/`` endpoint.

jupyter-sshd-proxy runs an sshd of the user's own behind jupyter-server-proxy's raw socket
proxy, reached as a WebSocket at ``https://HOST/…/sshd/``. This is the bridge ssh needs
to use it (what ``websocat --binary`` does), in Python:

* binary frames both ways, no compression (ssh's bytes are encrypted: nothing to gain);
* the token in an ``Authorization: token …`` header read from an environment variable,
  never in argv or in the URL, where ``ps`` and ``ssh -v`` would show it;
* two threads on ``websockets``' synchronous client rather than asyncio pipes, which do
  not work on stdin under Windows' Proactor loop;
* redirects are never followed: the TCP connection is opened here and handed to the client,
  so a 302 (to a hub's login page, or to add a missing trailing slash) is reported in plain
  words, like 401, 403 and 404, on one line on stderr, which ssh shows before its own
  "Connection closed" and exit status 255.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shlex
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter import DEFAULT_TOKEN_ENV, RedactingLogger, redact
from jupyssh.tunnel.errors import WebSocketProxyError

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "WebSocketTarget",
    "cleartext_warning",
    "open_websocket",
    "parse_target",
    "pump",
    "run_proxy",
    "ssh_config_block",
    "token_from_env",
]

log = logging.getLogger(__name__)

#: Bytes read from stdin per frame: large enough for bulk transfers, small enough to keep
#: interactive sessions snappy.
CHUNK = 256 * 1024
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A login name that is one word of an ssh config line (no space, quote, ``#`` or ``%``).
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@$-]{0,63}")


@dataclass(frozen=True)
class WebSocketTarget:
    """Where the bridge connects: a ``ws://`` or ``wss://`` URL and its host and port."""

    uri: str
    host: str
    port: int
    secure: bool


def parse_target(url: str) -> WebSocketTarget:
    """``https://hub/user/me/sshd/`` → ``wss://hub/user/me/sshd/``; http(s) and ws(s) are
    accepted, a missing trailing slash is added (jupyter-server-proxy redirects without it).
    Raises ``ConfigError`` for anything else."""
    if any(ch.isspace() or ch == '"' for ch in url.strip()):
        raise ConfigError("the URL holds spaces or quotes", where=redact(url))
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ConfigError(
            "the WebSocket URL must start with https://, http://, wss:// or ws://",
            where=redact(url),
            hint="give the address of the sshd endpoint, e.g. https://HUB/user/NAME/sshd/",
        )
    if parts.username or parts.password or "token=" in parts.query:
        raise ConfigError(
            "credentials do not belong in the URL",
            where=redact(url),
            hint="put the token in an environment variable (--token-env)",
        )
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    secure = scheme == "wss"
    port = parts.port or (443 if secure else 80)
    uri = urlunsplit((scheme, parts.netloc, path, parts.query, ""))
    return WebSocketTarget(uri=uri, host=parts.hostname, port=port, secure=secure)


def token_from_env(name: str, environ: dict[str, str] | None = None) -> str:
    """The token in environment variable ``name``; ``ConfigError`` when unset or empty."""
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"not an environment variable name: {name!r}")
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise ConfigError(
            f"no token: ${name} is not set",
            hint=f"export {name}=… in the shell that runs ssh (the server's Jupyter token)",
        )
    return value


def _explain(status: int, location: str | None, where: str) -> WebSocketProxyError:
    if status in (301, 302, 303, 307, 308):
        target = redact(location or "")
        if target and urlsplit(where).path.rstrip("/") == urlsplit(target).path:
            # Jupyter sends every unknown ".../" path to the same path without the slash.
            return WebSocketProxyError(
                f"no sshd endpoint at this path (the server redirects it to {target})",
                where=where,
                hint="is jupyter-sshd-proxy installed on the server, and the URL …/sshd/?",
            )
        login = any(part in target for part in ("/login", "/hub/", "spawn"))
        reason = (
            "the server is not running or not logged in (redirected to a login page)"
            if login
            else "check the URL (and its trailing slash)"
        )
        return WebSocketProxyError(
            f"the endpoint redirected (HTTP {status}) to {target or 'elsewhere'}",
            where=where,
            hint=reason,
        )
    if status in (401, 403):
        return WebSocketProxyError(
            f"the server refused the token (HTTP {status})",
            where=where,
            hint="check the token in the --token-env variable (a Jupyter server's token, or "
            "your hub API token for a hub service)",
        )
    if status == 404:
        return WebSocketProxyError(
            "no such endpoint (HTTP 404)",
            where=where,
            hint="is jupyter-sshd-proxy installed on the server, and the URL …/sshd/?",
        )
    return WebSocketProxyError(
        f"the server answered HTTP {status} instead of opening a WebSocket",
        where=where,
        hint="is this the sshd endpoint of a running Jupyter server?",
    )


def _status_error(exc: BaseException, where: str) -> WebSocketProxyError | None:
    """The InvalidStatus somewhere in ``exc``'s chain, explained; None when there is none."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, InvalidStatus):
            response = seen.response
            return _explain(response.status_code, response.headers.get("Location"), where)
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def open_websocket(
    target: WebSocketTarget, token: str, *, timeout: float = 15.0
) -> Iterator[ClientConnection]:
    """An open WebSocket to ``target`` with the token header, as a context manager.

    Called by :func:`run_proxy`. Raises ``WebSocketProxyError`` with a one-line
    explanation for every way the handshake can fail.
    """
    where = target.uri
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise WebSocketProxyError(
            f"cannot connect to {target.host}:{target.port}: {exc.strerror or exc}",
            where=where,
            hint="check the host name and that the Jupyter server runs",
        ) from None
    sock.settimeout(None)
    # ssh's small packets (window adjusts, keystrokes) must not wait for Nagle's algorithm
    # to meet the peer's delayed ACK: that stall, not bandwidth, bounds a bulk transfer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        manager = connect(
            target.uri,
            sock=sock,
            additional_headers={"Authorization": f"token {token}"},
            compression=None,
            open_timeout=timeout,
            max_size=None,
            user_agent_header="jupyssh-ws-proxy",
            # websockets logs the handshake's headers at DEBUG (-vv): never the token.
            logger=RedactingLogger(logging.getLogger("websockets.client"), [token]),
        )
        connection = manager.__enter__()
    except (WebSocketException, OSError, ValueError) as exc:
        sock.close()
        raise _status_error(exc, where) or WebSocketProxyError(
            f"the WebSocket handshake failed: {exc}", where=where
        ) from None
    try:
        yield connection
    finally:
        with suppress(WebSocketException, OSError):
            connection.close()


def pump(connection: ClientConnection, stdin_fd: int, stdout_fd: int) -> None:
    """Copy ``stdin_fd`` → WebSocket and WebSocket → ``stdout_fd`` until either side ends.

    The upstream copy runs in a daemon thread: when the server closes, ssh has its answer
    and exits, so a read blocked on stdin need not be waited for.
    """

    def upstream() -> None:
        try:
            while data := os.read(stdin_fd, CHUNK):
                connection.send(data)
        except (ConnectionClosed, OSError):
            pass
        finally:
            with suppress(WebSocketException, OSError):
                connection.close()

    thread = threading.Thread(target=upstream, name="ws-proxy-upstream", daemon=True)
    thread.start()
    with suppress(ConnectionClosed):
        for message in connection:
            data = message.encode() if isinstance(message, str) else message
            _write_all(stdout_fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def run_proxy(url: str, *, token: str, timeout: float = 15.0) -> None:
    """Bridge this process's stdin/stdout to the WebSocket at ``url``; called by
    ``jupyssh tunnel ws-proxy`` (ssh's ProxyCommand)."""
    target = parse_target(url)
    with open_websocket(target, token, timeout=timeout) as connection:
        pump(connection, 0, 1)


def cleartext_warning(target: WebSocketTarget) -> str | None:
    """What to tell the user when ``target`` is ``ws://`` to another machine, else None.

    ssh's own encryption still protects the session, but the token in the handshake's
    header travels in the clear, where anyone on the path can read and replay it.
    """
    if target.secure or _is_loopback(target.host):
        return None
    return (
        f"cleartext ws:// to {target.host}: the token travels unencrypted; "
        "use https:// (wss://) unless the network path is trusted"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ssh_config_block(
    alias: str,
    url: str,
    *,
    token_env: str = DEFAULT_TOKEN_ENV,
    user: str | None = None,
    program: str = "jupyssh",
) -> str:
    """The ``Host`` block that reaches ``url`` as ``ssh ALIAS``; printed by ``ws-config``.

    ``HostKeyAlias`` keys known_hosts by the alias, not the hub's host name, which every
    user's server shares while each has its own host key.
    """
    target = parse_target(url)
    if not _ENV_NAME.fullmatch(token_env):
        raise ConfigError(f"not an environment variable name: {token_env!r}")
    if not alias or any(ch.isspace() or ch in "*?!,#\"'" for ch in alias):
        raise ConfigError(f"not a usable Host alias: {alias!r}")
    if user is not None and not _SSH_USER.fullmatch(user):
        raise ConfigError(f"not a user name: {user!r}")
    command = " ".join(
        _proxy_command_word(word)
        for word in (program, "tunnel", "ws-proxy", "--token-env", token_env, target.uri)
    )
    lines = [
        f"Host {alias}",
        f"    ProxyCommand {command}",
        f"    HostKeyAlias {alias}",
        "    ServerAliveInterval 15",
        "    ServerAliveCountMax 3",
    ]
    if user:
        lines.insert(2, f"    User {user}")
    return "\n".join(lines) + "\n"


def _proxy_command_word(word: str) -> str:
    """One word of a ProxyCommand. ssh takes the rest of the line verbatim, expands its
    ``%`` tokens, then runs it with ``sh -c``: single quotes (``shlex.quote``) keep ``$(…)``,
    backticks, ``\\`` and ``;`` literal, where double quotes would still run them."""
    return shlex.quote(word).replace("%", "%%")
