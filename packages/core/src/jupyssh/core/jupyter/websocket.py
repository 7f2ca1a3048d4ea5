"""Open an authenticated WebSocket to a Jupyter server (other than a kernel's channels).

``KernelConnection`` opens the kernel's channels itself; this is for the server's other
WebSockets, such as a terminal's (``/terminals/websocket/<name>``, terminado's JSON
protocol). Who calls it: ``JupyterClient.connect_terminal`` (and through it the bridge's
terminals backend). The token travels in the ``Authorization`` header, as for every REST
request; websockets' DEBUG log of the handshake goes through a ``RedactingLogger``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from jupyssh.core._version import __version__
from jupyssh.core.errors import (
    JupyterAuthError,
    JupyterError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter.auth import RedactingLogger, authorization_headers, redact

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "connect_websocket", "handshake_error"]

#: Largest message accepted from the server (bytes).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024


async def connect_websocket(
    url: str,
    *,
    token: str | None,
    what: str,
    open_timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    subprotocols: Sequence[str] = (),
    max_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
) -> ClientConnection:
    """Open the WebSocket at ``url`` (``ws://`` or ``wss://``) with the token's header.

    ``what`` names it in errors ("terminal 1 WebSocket"). Raises ``JupyterAuthError``
    (401/403), ``JupyterNotFoundError`` (404), ``OperationTimeout`` after
    ``open_timeout`` seconds and ``JupyterError`` for anything else; no message holds
    the token.
    """
    where = redact(url)
    extra: dict[str, Any] = {}
    if ssl_context is not None:
        extra["ssl"] = ssl_context
    try:
        return await ws_connect(
            url,
            additional_headers=authorization_headers(token),
            subprotocols=[Subprotocol(p) for p in subprotocols],
            open_timeout=open_timeout,
            max_size=max_size,
            user_agent_header=f"jupyssh/{__version__}",
            logger=RedactingLogger(logging.getLogger("websockets.client"), [token or ""]),
            **extra,
        )
    except InvalidStatus as exc:
        raise handshake_error(exc.response.status_code, where, what=what) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise OperationTimeout(
            f"the {what} did not open within {open_timeout:g} s",
            where=where,
            hint="the server may be busy or a proxy may not pass WebSockets",
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise JupyterError(
            f"cannot open the {what}: {redact(str(exc))}",
            where=where,
            hint="check the server is reachable and that proxies pass WebSockets",
        ) from None


def handshake_error(status: int, where: str, *, what: str) -> JupyterError:
    """The typed error for a refused WebSocket handshake (HTTP ``status``)."""
    message = f"the server refused the {what} (HTTP {status})"
    if status in {401, 403}:
        return JupyterAuthError(
            message, where=where, status=status, hint="check the token (JUPYTER_TOKEN, ?token=)"
        )
    if status == 404:
        return JupyterNotFoundError(
            message,
            where=where,
            status=status,
            hint="it is gone, or the server does not offer it (terminals disabled?)",
        )
    return JupyterError(message, where=where, hint="see the Jupyter server's log")
