"""``JupyterClient``: the Jupyter server's REST API over httpx.

One ``JupyterClient`` per server: status, the Contents API (stat, read, save, chunked
save, rename, delete, mkdir, ranged downloads from ``/files/``, in ``contents``),
sessions, kernels, kernel specs and terminals, and the door to a kernel's WebSocket
(``connect_kernel``, ``kernel``). The SFTP server, the bridge and the CLI call it.
Requests, their typed errors and the token's handling are in ``http``.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

from websockets.asyncio.client import ClientConnection

from jupyssh.core.errors import ConfigError, JupyterNotFoundError
from jupyssh.core.jupyter.auth import DEFAULT_TOKEN_ENV, resolve_token
from jupyssh.core.jupyter.contents import DEFAULT_REQUEST_SIZE, ContentsClient, _clean_path
from jupyssh.core.jupyter.http import _ssl_context, error_for_response
from jupyssh.core.jupyter.kernel import KernelConnection, WireProtocol
from jupyssh.core.jupyter.models import (
    KernelModel,
    KernelSpecsModel,
    ServerStatus,
    SessionModel,
    TerminalModel,
)
from jupyssh.core.jupyter.upload import DEFAULT_CHUNK_SIZE
from jupyssh.core.jupyter.urls import parse_server_url, quote_path, terminal_websocket_url
from jupyssh.core.jupyter.websocket import connect_websocket

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_REQUEST_SIZE",
    "JupyterClient",
    "error_for_response",
]


class JupyterClient(ContentsClient):
    """An async client of one Jupyter server's REST API.

    ``url`` is a base URL or anything ``parse_server_url`` accepts (``/lab?token=…``);
    ``token`` overrides the URL's. Use it as an async context manager, or call ``aclose``.
    ``from_url`` also looks in the environment and may prompt (see ``resolve_token``).

    ``timeout`` bounds each HTTP request (seconds). ``verify`` is httpx's TLS setting and
    also used for ``wss://`` kernel connections. ``transport`` replaces the network
    (tests use ``httpx.MockTransport``). ``trust_env`` lets httpx read proxy settings.
    """

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        token: str | None = None,
        env_var: str = DEFAULT_TOKEN_ENV,
        environ: Mapping[str, str] | None = None,
        prompt: Callable[[str], str] | None = getpass.getpass,
        **kwargs: Any,
    ) -> JupyterClient:
        """A client for ``url`` whose token comes from ``resolve_token`` (may prompt)."""
        server = parse_server_url(url)
        found = resolve_token(
            server.token,
            token=token,
            env_var=env_var,
            environ=environ,
            prompt=prompt,
            where=server.base_url,
        )
        return cls(server, token=found, **kwargs)

    # --- server ------------------------------------------------------------------------------

    async def status(self) -> ServerStatus:
        """``GET /api/status``: start time, last activity, kernel and connection counts."""
        return cast("ServerStatus", await self._json("GET", self._url("api/status"), what="status"))

    async def version(self) -> str:
        """The jupyter_server (or notebook) version, from ``GET /api``."""
        body = await self._json("GET", self._url("api"), what="version")
        return str(body.get("version", "")) if isinstance(body, dict) else ""

    # --- sessions ----------------------------------------------------------------------------

    async def list_sessions(self) -> list[SessionModel]:
        """Every session (a path bound to a kernel)."""
        return cast(
            "list[SessionModel]",
            await self._json("GET", self._url("api/sessions"), what="list sessions"),
        )

    async def create_session(
        self,
        path: str,
        *,
        kernel_name: str | None = None,
        kernel_id: str | None = None,
        name: str = "",
        type: str = "notebook",
    ) -> SessionModel:
        """Start (or find) the session for ``path``, with a new or an existing kernel."""
        kernel: dict[str, str] = {}
        if kernel_name:
            kernel["name"] = kernel_name
        if kernel_id:
            kernel["id"] = kernel_id
        body = {"path": _clean_path(path), "name": name, "type": type, "kernel": kernel}
        model = await self._json(
            "POST", self._url("api/sessions"), what=f"create session {path!r}", json=body
        )
        return cast("SessionModel", model)

    async def get_session(self, session_id: str) -> SessionModel:
        """One session by id."""
        url = self._url("api/sessions", _quote_id(session_id))
        return cast("SessionModel", await self._json("GET", url, what=f"get session {session_id}"))

    async def delete_session(self, session_id: str) -> None:
        """End a session and shut its kernel down."""
        url = self._url("api/sessions", _quote_id(session_id))
        await self._request("DELETE", url, what=f"delete session {session_id}")

    # --- kernels -----------------------------------------------------------------------------

    async def kernelspecs(self) -> KernelSpecsModel:
        """The kernels the server can start, and its default."""
        body = await self._json("GET", self._url("api/kernelspecs"), what="list kernel specs")
        return cast("KernelSpecsModel", body)

    async def list_kernels(self) -> list[KernelModel]:
        """Every running kernel."""
        return cast(
            "list[KernelModel]",
            await self._json("GET", self._url("api/kernels"), what="list kernels"),
        )

    async def start_kernel(
        self, name: str | None = None, *, path: str | None = None
    ) -> KernelModel:
        """Start a kernel (the server's default kind without ``name``), in ``path``'s directory."""
        body: dict[str, str] = {}
        if name:
            body["name"] = name
        if path is not None:
            body["path"] = _clean_path(path)
        model = await self._json(
            "POST", self._url("api/kernels"), what=f"start kernel {name or '(default)'}", json=body
        )
        return cast("KernelModel", model)

    async def get_kernel(self, kernel_id: str) -> KernelModel:
        """One kernel by id (404 once it is gone)."""
        url = self._url("api/kernels", _quote_id(kernel_id))
        return cast("KernelModel", await self._json("GET", url, what=f"get kernel {kernel_id}"))

    async def delete_kernel(self, kernel_id: str) -> None:
        """Shut a kernel down."""
        url = self._url("api/kernels", _quote_id(kernel_id))
        await self._request("DELETE", url, what=f"shut down kernel {kernel_id}")

    async def interrupt_kernel(self, kernel_id: str) -> None:
        """Interrupt what the kernel runs (SIGINT, or an interrupt_request per its spec)."""
        url = self._url("api/kernels", _quote_id(kernel_id), "interrupt")
        await self._request("POST", url, what=f"interrupt kernel {kernel_id}")

    async def restart_kernel(self, kernel_id: str) -> KernelModel:
        """Restart a kernel; its WebSocket connections survive."""
        url = self._url("api/kernels", _quote_id(kernel_id), "restart")
        return cast(
            "KernelModel", await self._json("POST", url, what=f"restart kernel {kernel_id}")
        )

    def connect_kernel(
        self,
        kernel_id: str,
        *,
        protocol: WireProtocol = "auto",
        session_id: str | None = None,
        open_timeout: float | None = None,
        max_message_size: int | None = None,
        quick_acks: bool = False,
    ) -> KernelConnection:
        """A WebSocket connection to a running kernel, opened by ``async with`` or ``open()``.

        ``protocol``: ``"auto"`` offers the v1 subprotocol and accepts the legacy form
        if the server does not select it; ``"v1"`` requires v1; ``"legacy"`` offers none.
        ``quick_acks``: pong every small message received, for interactive latency (see
        ``KernelConnection``).
        """
        extra: dict[str, Any] = {}
        if max_message_size is not None:
            extra["max_message_size"] = max_message_size
        return KernelConnection(
            self.base_url,
            kernel_id,
            token=self._token,
            protocol=protocol,
            session_id=session_id,
            open_timeout=self.timeout if open_timeout is None else open_timeout,
            ssl_context=_ssl_context(self.verify) if self.base_url.startswith("https:") else None,
            interrupt=self.interrupt_kernel,
            quick_acks=quick_acks,
            **extra,
        )

    @contextlib.asynccontextmanager
    async def kernel(
        self,
        name: str | None = None,
        *,
        path: str | None = None,
        protocol: WireProtocol = "auto",
        ready_timeout: float = 60.0,
    ) -> AsyncIterator[KernelConnection]:
        """Start a kernel, connect, wait until it answers; shut it down on the way out.

        The kernel is shut down on every path out, a failure halfway through included.
        """
        model = await self.start_kernel(name, path=path)
        try:
            async with self.connect_kernel(model["id"], protocol=protocol) as connection:
                await connection.wait_ready(timeout=ready_timeout)
                yield connection
        finally:
            with contextlib.suppress(JupyterNotFoundError):
                await self.delete_kernel(model["id"])

    # --- terminals ---------------------------------------------------------------------------

    async def list_terminals(self) -> list[TerminalModel]:
        """Every terminal (404 when the server runs without terminals)."""
        return cast(
            "list[TerminalModel]",
            await self._json("GET", self._url("api/terminals"), what="list terminals"),
        )

    async def create_terminal(self, *, cwd: str | None = None) -> TerminalModel:
        """Start a terminal, in ``cwd`` (relative to the server's root) if given."""
        body = {} if cwd is None else {"cwd": cwd}
        model = await self._json(
            "POST", self._url("api/terminals"), what="create terminal", json=body
        )
        return cast("TerminalModel", model)

    async def delete_terminal(self, name: str) -> None:
        """End a terminal and its shell."""
        url = self._url("api/terminals", _quote_id(name))
        await self._request("DELETE", url, what=f"delete terminal {name}")

    async def connect_terminal(
        self, name: str, *, open_timeout: float | None = None
    ) -> ClientConnection:
        """Open terminal ``name``'s WebSocket (terminado's JSON protocol: ``["stdin", text]``,
        ``["set_size", rows, cols]`` out; ``["setup", {}]``, ``["stdout", text]``,
        ``["disconnect", 1]`` in). The caller closes it. Raises as ``connect_websocket``
        (``JupyterNotFoundError`` for an unknown terminal)."""
        return await connect_websocket(
            terminal_websocket_url(self.base_url, _quote_id(name)),
            token=self._token,
            what=f"terminal {name} WebSocket",
            open_timeout=self.timeout if open_timeout is None else open_timeout,
            ssl_context=_ssl_context(self.verify) if self.base_url.startswith("https:") else None,
            not_found_hint="it is gone, or the server does not offer terminals",
        )


def _quote_id(identifier: str) -> str:
    if not identifier or "/" in identifier or identifier in {".", ".."}:
        raise ConfigError(f"not a valid id: {identifier!r}")
    return quote_path(identifier)
