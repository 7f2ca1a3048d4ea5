"""The optional streamable HTTP transport: 127.0.0.1 only, every request with the token.

For an agent's client that speaks HTTP rather than starting a subprocess. The server
listens on the loopback address only (never a wider one), and refuses with 401 any request
whose ``Authorization: Bearer`` header is not the token. The token comes from a file of
the user's (owner-only) or an environment variable: never an argument, so never in an
argv, and never logged (uvicorn's access log is off, and it would not show headers).
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from jupyssh.core.errors import ConfigError
from mcp.server.mcpserver import MCPServer

__all__ = ["LOOPBACK", "TOKEN_ENV", "BearerGuard", "read_token", "serve_http"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: The environment variable that may hold the token (else ``--token-file``).
TOKEN_ENV = "JUPYSSH_MCP_TOKEN"  # noqa: S105 - the variable's name, not a token
#: Shortest token accepted: a guessable one would open the user's hosts to anyone local.
_MIN_TOKEN = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def read_token(token_file: Path | None, environ: MutableMapping[str, str] | None = None) -> str:
    """The HTTP transport's token: ``token_file`` (readable by its owner only) or
    ``$JUPYSSH_MCP_TOKEN``; refuses to serve without one."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            mode = token_file.stat().st_mode
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token file: {exc.strerror}", where=str(token_file)
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                "the token file is readable by others",
                where=str(token_file),
                hint=f"chmod 600 {token_file}",
            )
    else:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            raise ConfigError(
                "the HTTP transport needs a token and none was given",
                hint=f"pass --token-file FILE (mode 600) or set {TOKEN_ENV}",
            )
    if len(token) < _MIN_TOKEN:
        raise ConfigError(
            f"the token is shorter than {_MIN_TOKEN} characters",
            hint='make one with: python3 -c "import secrets; print(secrets.token_hex(32))"',
        )
    return token


class BearerGuard:
    """ASGI middleware: an HTTP request without ``Authorization: Bearer <token>`` gets 401
    and never reaches the MCP app (lifespan events pass through)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            body = b'{"error": "missing or wrong bearer token"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                given = value
        return hmac.compare_digest(given, self._expected)


async def serve_http(server: MCPServer, *, port: int, token: str) -> None:
    """Serve ``server`` over streamable HTTP on 127.0.0.1:``port`` (0: a free one) at
    ``/mcp`` until cancelled; says where on stderr once it listens."""
    import uvicorn  # noqa: PLC0415 - the SDK's HTTP server, loaded for this transport only

    app = server.streamable_http_app(host=LOOPBACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {LOOPBACK}:{port}: {exc.strerror}", hint="choose another --port"
        ) from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        BearerGuard(app, token), log_level="warning", access_log=False, lifespan="on"
    )
    print(f"jupyssh mcp: listening on http://{LOOPBACK}:{bound}/mcp", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])
