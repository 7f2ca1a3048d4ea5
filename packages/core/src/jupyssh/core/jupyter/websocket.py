"""Open an authenticated WebSocket to a Jupyter server, and keep its small messages quick.

Who calls it: ``KernelConnection.open`` (a kernel's channels) and
``JupyterClient.connect_terminal`` (a terminal: terminado's JSON protocol), and through
them the bridge. The token travels in the ``Authorization`` header, as for every REST
request; websockets' DEBUG log of the handshake goes through a ``RedactingLogger``.

:class:`QuickAcks` works around a property of Jupyter Server's WebSockets: it leaves
Nagle's algorithm on (tornado's ``set_nodelay`` is never called), so a small message
written while an earlier one is still unacknowledged waits for the receiver's delayed
ACK — 40 ms on Linux. Interactive users (a keystroke's echo follows the kernel's
``busy``/``idle`` status messages) answer every small frame with an unsolicited pong,
whose packet carries the ACK at once, also through proxies in between.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from jupyssh.core._version import __version__
from jupyssh.core.errors import (
    JupyterAuthError,
    JupyterError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter.auth import RedactingLogger, authorization_headers, redact

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "QuickAcks", "connect_websocket", "handshake_error"]

#: Largest message accepted from the server (bytes).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: What a 404 on a WebSocket suggests unless the caller knows better.
NOT_FOUND_HINT = "it is gone, or the server does not offer it"
#: Frames up to this size are answered by :class:`QuickAcks`.
QUICK_ACK_MAX_FRAME = 64 * 1024


async def connect_websocket(
    url: str,
    *,
    token: str | None,
    what: str,
    open_timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    subprotocols: Sequence[str] = (),
    max_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    error: type[JupyterError] = JupyterError,
    not_found_hint: str = NOT_FOUND_HINT,
) -> ClientConnection:
    """Open the WebSocket at ``url`` (``ws://`` or ``wss://``) with the token's header.

    ``what`` names it in errors ("terminal 1 WebSocket"). Raises ``JupyterAuthError``
    (401/403), ``JupyterNotFoundError`` (404, with ``not_found_hint``),
    ``OperationTimeout`` after ``open_timeout`` seconds and ``error`` (a
    ``JupyterError``) for anything else; no message holds the token.
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
        status = exc.response.status_code
        raise handshake_error(
            status, where, what=what, error=error, not_found_hint=not_found_hint
        ) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise OperationTimeout(
            f"the {what} did not open within {open_timeout:g} s",
            where=where,
            hint="the server may be busy or a proxy may not pass WebSockets",
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise error(
            f"cannot open the {what}: {redact(str(exc))}",
            where=where,
            hint="check the server is reachable and that proxies pass WebSockets",
        ) from None


def handshake_error(
    status: int,
    where: str,
    *,
    what: str,
    error: type[JupyterError] = JupyterError,
    not_found_hint: str = NOT_FOUND_HINT,
) -> JupyterError:
    """The typed error for a refused WebSocket handshake (HTTP ``status``): 401/403
    ``JupyterAuthError``, 404 ``JupyterNotFoundError``, others ``error``."""
    message = f"the server refused the {what} (HTTP {status})"
    if status in {401, 403}:
        return JupyterAuthError(
            message, where=where, status=status, hint="check the token (JUPYTER_TOKEN, ?token=)"
        )
    if status == 404:
        return JupyterNotFoundError(message, where=where, status=status, hint=not_found_hint)
    return error(message, where=where, hint="see the Jupyter server's log")


class QuickAcks:
    """Answer received small frames with unsolicited pongs (RFC 6455 §5.5.3: no reply is
    expected), so that the server's next small message is not held by Nagle's algorithm
    until our delayed ACK (see the module's docstring).

    The owner of the connection's reader calls :meth:`received` after each frame, on the
    connection's event loop. At most one pong is pending at a time: a pong sent after
    several frames arrived acknowledges them all. Frames larger than ``max_frame`` get
    none: they span full TCP segments, which the receiver acknowledges at once, and a pong
    for each would cost a system call per message of a bulk transfer (measured: about a
    tenth of the bridge's time during a 256 MB stream). The price: a small message that
    follows a large one may still wait for the delayed ACK of the large one's tail.
    """

    def __init__(self, ws: _Ponger, *, max_frame: int = QUICK_ACK_MAX_FRAME) -> None:
        self._ws = ws
        self._max_frame = max_frame
        self._pending: asyncio.Task[None] | None = None

    def received(self, size: int) -> None:
        """A frame of ``size`` bytes arrived: if small, make sure a pong leaves soon
        (returns at once)."""
        if size <= self._max_frame and self._pending is None:
            self._pending = asyncio.get_running_loop().create_task(self._pong())

    async def _pong(self) -> None:
        try:
            await self._ws.pong(b"")
        except ConnectionClosed:
            pass  # the reader sees the close too, and reports it
        finally:
            self._pending = None

    def close(self) -> None:
        """Cancel a pong still pending (the reader is done)."""
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()


class _Ponger(Protocol):
    async def pong(self, data: bytes = b"") -> None: ...
