"""``JupyterClient``: the Jupyter server's REST API over httpx.

One ``JupyterClient`` per server: status, the Contents API (stat, read, save, chunked
save, rename, delete, mkdir, ranged downloads from ``/files/``), sessions, kernels,
kernel specs and terminals, and the door to a kernel's WebSocket (``connect_kernel``,
``kernel``). The SFTP server, the bridge and the CLI call it.

Every HTTP failure becomes a typed error (``error_for_response``): 401/403
``JupyterAuthError``, 404 ``JupyterNotFoundError``, any other status
``JupyterHTTPError``; a server that cannot be reached is a ``JupyterError`` naming the URL
and what to try, and a request that outlives the timeout an ``OperationTimeout``.
The token travels in the ``Authorization`` header only; no URL, repr or log line holds it.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import http.cookiejar
import ipaddress
import json as json_module
import logging
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, cast

import httpx
from websockets.asyncio.client import ClientConnection

from jupyssh.core.errors import (
    ConfigError,
    JupyterAuthError,
    JupyterError,
    JupyterHTTPError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter.auth import (
    DEFAULT_TOKEN_ENV,
    authorization_headers,
    redact,
    resolve_token,
)
from jupyssh.core.jupyter.kernel import KernelConnection, WireProtocol
from jupyssh.core.jupyter.models import (
    ContentsModel,
    KernelModel,
    KernelSpecsModel,
    ServerStatus,
    SessionModel,
    TerminalModel,
)
from jupyssh.core.jupyter.upload import DEFAULT_CHUNK_SIZE, ChunkedUpload
from jupyssh.core.jupyter.urls import (
    ServerURL,
    api_url,
    parse_server_url,
    quote_path,
    terminal_websocket_url,
)
from jupyssh.core.jupyter.websocket import connect_websocket

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_REQUEST_SIZE",
    "JupyterClient",
    "error_for_response",
]

log = logging.getLogger(__name__)

#: Bytes asked for per ranged request to ``/files/``.
DEFAULT_REQUEST_SIZE = 8 * 1024 * 1024

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_REASON_LIMIT = 300


def error_for_response(response: httpx.Response, *, what: str) -> JupyterHTTPError | None:
    """The typed error for an HTTP error answer, ``None`` for a success (< 300).

    ``what`` names the operation ("read notebooks/a.ipynb"). The error's message carries
    the server's own reason (jupyter_server answers ``{"message": …}``), ``where`` the
    request URL (redacted), ``hint`` what to try.
    """
    status = response.status_code
    if status < 300:
        return None
    where = _request_url(response)
    reason = _server_reason(response)
    message = (
        f"{what} failed: {reason} (HTTP {status})" if reason else f"{what} failed: HTTP {status}"
    )
    if status in {401, 403}:
        return JupyterAuthError(
            message,
            where=where,
            status=status,
            hint="check the token (?token= in the URL or JUPYTER_TOKEN); "
            "a 403 on a file can also mean the server may not touch it",
        )
    if status == 404:
        return JupyterNotFoundError(
            message,
            where=where,
            status=status,
            hint="check the path or id and the server's base URL "
            "(kernels and terminals go away when shut down or culled)",
        )
    if 300 <= status < 400:
        location = redact(response.headers.get("location", ""))
        return JupyterHTTPError(
            message,
            where=where,
            status=status,
            hint=f"the server redirects to {location}: use that URL, or log in first"
            if location
            else "the server redirects: check the base URL",
        )
    hint = "see the Jupyter server's log" if status >= 500 else None
    return JupyterHTTPError(message, where=where, status=status, hint=hint)


def _request_url(response: httpx.Response) -> str | None:
    try:
        return redact(str(response.request.url))
    except RuntimeError:  # a response built without a request (tests)
        return None


def _server_reason(response: httpx.Response) -> str:
    """The short reason the server gave, if it gave one we can show on one line."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict):
        reason = body.get("message") or body.get("reason")
        if isinstance(reason, str) and reason:
            return redact(reason.strip()[:_REASON_LIMIT])
    with contextlib.suppress(httpx.ResponseNotRead):
        content_type = response.headers.get("content-type", "")
        text = response.text.strip()
        if text and content_type.startswith("text/plain") and "\n" not in text:
            return redact(text[:_REASON_LIMIT])
    return response.reason_phrase


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class JupyterClient:
    """An async client of one Jupyter server's REST API.

    ``url`` is a base URL or anything ``parse_server_url`` accepts (``/lab?token=…``);
    ``token`` overrides the URL's. Use it as an async context manager, or call ``aclose``.
    ``from_url`` also looks in the environment and may prompt (see ``resolve_token``).

    ``timeout`` bounds each HTTP request (seconds). ``verify`` is httpx's TLS setting and
    also used for ``wss://`` kernel connections. ``transport`` replaces the network
    (tests use ``httpx.MockTransport``). ``trust_env`` lets httpx read proxy settings.
    """

    def __init__(
        self,
        url: str | ServerURL,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        server = parse_server_url(url) if isinstance(url, str) else url
        if chunk_size <= 0:
            raise ConfigError(f"chunk_size must be positive, not {chunk_size}")
        self.base_url = server.base_url
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.verify = verify
        #: Whether ``/files/`` honoured a Range request: ``None`` until known.
        self.range_supported: bool | None = None
        self._token = token if token is not None else server.token
        self._headers = authorization_headers(self._token)
        host = httpx.URL(self.base_url).host
        if self._token and self.base_url.startswith("http://") and not _is_loopback(host):
            log.warning(
                "sending the Jupyter token in clear text over http to %s; "
                "prefer https or an SSH tunnel",
                host,
            )
        self._http = httpx.AsyncClient(
            headers=self._headers,
            timeout=httpx.Timeout(timeout),
            verify=verify,
            transport=transport,
            trust_env=trust_env,
            follow_redirects=False,  # a redirect must not carry the token to another host
            cookies=_no_cookies(),
        )

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

    def __repr__(self) -> str:
        token = "None" if self._token is None else "<redacted>"
        return f"JupyterClient(base_url={self.base_url!r}, token={token})"

    async def __aenter__(self) -> JupyterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    # --- plumbing ----------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        return api_url(self.base_url, *parts)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request; map transport failures and HTTP error statuses to typed errors.

        With ``stream`` the body is not read; the caller must close the response.
        A JSON body of ``_ONE_SHOT_BODY`` bytes or more, or one already encoded (file
        saves), is sent from a one-shot stream (:class:`_OneShotBody`), so that the
        request object does not keep it alive.
        """
        content: _OneShotBody | None = None
        if json is not None:
            encoded = json.data if isinstance(json, _EncodedJSON) else _encode_json(json)
            if len(encoded) >= _ONE_SHOT_BODY or isinstance(json, _EncodedJSON):
                content, json = _OneShotBody(encoded), None
                headers = {
                    **(headers or {}),
                    "Content-Type": "application/json",
                    "Content-Length": str(len(encoded)),
                }
            del encoded
        request = self._http.build_request(
            method, url, params=params, json=json, content=content, headers=headers
        )
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, what=what, url=url) from None
        error = error_for_response(response, what=what)
        if error is not None:
            if stream:
                with contextlib.suppress(httpx.HTTPError):
                    await response.aread()  # let the error carry the server's reason
                await response.aclose()
                error = error_for_response(response, what=what) or error
            raise error
        return response

    def _transport_error(self, exc: httpx.HTTPError, *, what: str, url: str) -> Exception:
        where = redact(url)
        if isinstance(exc, httpx.TimeoutException):
            return OperationTimeout(
                f"{what}: no answer within {self.timeout:g} s",
                where=where,
                hint="the server may be busy; raise the timeout or check the network",
            )
        if isinstance(exc, httpx.ConnectError):
            return JupyterError(
                f"{what}: cannot connect to the Jupyter server ({exc})",
                where=where,
                hint="check the URL and that the server runs (`jupyter server list` on its "
                "host); through a tunnel, check that the forward is up",
            )
        return JupyterError(f"{what}: {type(exc).__name__}: {exc}", where=where)

    async def _json(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self._request(method, url, what=what, params=params, json=json)
        try:
            return response.json()
        except ValueError:
            raise JupyterError(
                f"{what}: the server's answer is not JSON",
                where=redact(url),
                hint="is this a Jupyter server, and is its base URL right?",
            ) from None

    # --- server ------------------------------------------------------------------------------

    async def status(self) -> ServerStatus:
        """``GET /api/status``: start time, last activity, kernel and connection counts."""
        return cast("ServerStatus", await self._json("GET", self._url("api/status"), what="status"))

    async def version(self) -> str:
        """The jupyter_server (or notebook) version, from ``GET /api``."""
        body = await self._json("GET", self._url("api"), what="version")
        return str(body.get("version", "")) if isinstance(body, dict) else ""

    # --- contents ----------------------------------------------------------------------------

    def _contents_url(self, path: str) -> str:
        return self._url("api/contents", quote_path(path))

    async def get_contents(
        self,
        path: str,
        *,
        content: bool = True,
        type: Literal["file", "directory", "notebook"] | None = None,
        format: Literal["text", "base64"] | None = None,
        hash: bool = False,
    ) -> ContentsModel:
        """``GET /api/contents/<path>`` with the API's own query options."""
        params = {"content": "1" if content else "0"}
        if type:
            params["type"] = type
        if format:
            params["format"] = format
        if hash:
            params["hash"] = "1"
        body = await self._json(
            "GET", self._contents_url(path), what=f"get {path!r}", params=params
        )
        return cast("ContentsModel", body)

    async def stat(self, path: str, *, hash: bool = False) -> ContentsModel:
        """A file's or directory's model without its content (``content=0``): cheap."""
        return await self.get_contents(path, content=False, hash=hash)

    async def list_dir(self, path: str = "") -> list[ContentsModel]:
        """The models (without content) of a directory's entries."""
        model = await self.get_contents(path, type="directory")
        return cast("list[ContentsModel]", model["content"] or [])

    async def read_file(self, path: str) -> bytes:
        """A file's bytes, exactly (``type=file&format=base64``, also for notebooks).

        The server reads the whole file into memory; prefer ``download`` for large ones.
        """
        model = await self.get_contents(path, type="file", format="base64")
        if model.get("format") != "base64" or not isinstance(model.get("content"), str):
            raise JupyterError(f"read {path!r}: the server did not answer with base64 content")
        return base64.b64decode(model["content"])

    async def _put(
        self, path: str, body: Mapping[str, Any] | _EncodedJSON, *, what: str
    ) -> ContentsModel:
        json = body if isinstance(body, _EncodedJSON) else dict(body)
        model = await self._json("PUT", self._contents_url(path), what=what, json=json)
        return cast("ContentsModel", model)

    async def save_file(
        self, path: str, data: bytes, *, chunk_size: int | None = None
    ) -> ContentsModel:
        """Write ``data`` to ``path`` (created or replaced); return its model.

        Data larger than ``chunk_size`` (default: the client's) goes in chunks with the
        Contents API's ``chunk`` field (:class:`~jupyssh.core.jupyter.upload.ChunkedUpload`
        says how); the size the server reports afterwards is checked, because a contents
        manager without chunk support overwrites on every chunk.
        """
        upload = ChunkedUpload(self, path, chunk_size=chunk_size)
        size = upload.chunk_size
        for start in range(0, max(len(data), 1), size):
            last = start + size >= len(data)
            model = await upload.send(data[start : start + size], last=last)
        return model

    async def save_whole(self, path: str, data: bytes) -> ContentsModel:
        """Write ``data`` to ``path`` in one request (no ``chunk`` field), whatever its size."""
        return await self._put(path, _file_body(data), what=f"save {path!r}")

    async def save_chunk(self, path: str, data: bytes, *, chunk: int) -> ContentsModel:
        """Send one chunk of a chunked save (``chunk`` 1, 2, …, or -1 for the last).

        Chunk 1 truncates the file; every other chunk, -1 included, appends. A file that
        fits in one request must therefore go without ``chunk`` (``save_whole``;
        :class:`~jupyssh.core.jupyter.upload.ChunkedUpload` applies these rules).
        """
        if chunk == 0 or chunk < -1:
            raise ConfigError(f"chunk must be 1, 2, … or -1 (last), not {chunk}")
        return await self._put(
            path, _file_body(data, chunk=chunk), what=f"save {path!r} (chunk {chunk})"
        )

    async def save_text(self, path: str, text: str) -> ContentsModel:
        """Write ``text`` as UTF-8 to ``path`` (``format=text``)."""
        body = {"type": "file", "format": "text", "content": text}
        return await self._put(path, body, what=f"save {path!r}")

    async def save_notebook(self, path: str, notebook: Mapping[str, Any]) -> ContentsModel:
        """Save a notebook given as its JSON object; the server validates it (nbformat)."""
        body = {"type": "notebook", "format": "json", "content": dict(notebook)}
        return await self._put(path, body, what=f"save notebook {path!r}")

    async def mkdir(self, path: str) -> ContentsModel:
        """Create the directory ``path`` (``PUT type=directory``); its parent must exist."""
        return await self._put(path, {"type": "directory"}, what=f"mkdir {path!r}")

    async def rename(self, path: str, new_path: str) -> ContentsModel:
        """Rename or move ``path`` to ``new_path``; HTTP 409 if ``new_path`` exists."""
        body = {"path": _clean_path(new_path)}
        model = await self._json(
            "PATCH", self._contents_url(path), what=f"rename {path!r}", json=body
        )
        return cast("ContentsModel", model)

    async def delete(self, path: str) -> None:
        """Delete a file or directory (to the server's trash when it uses one)."""
        await self._request("DELETE", self._contents_url(path), what=f"delete {path!r}")

    async def download(
        self,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        request_size: int = DEFAULT_REQUEST_SIZE,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of ``path`` from ``offset`` (``length`` of them, or to the end).

        Reads ``/files/<path>`` with ``Range: bytes=a-b`` requests of ``request_size``.
        jupyter_server serves files with tornado's StaticFileHandler, which honours Range,
        but answers 200 with the whole file when the range covers all of it; a server
        that ignores Range also answers 200. Either way the bytes before ``offset`` are
        then skipped here, so the result is right, and ``range_supported`` records what
        the server did. Close the iterator (``contextlib.aclosing``) if you stop early.
        """
        if offset < 0 or (length is not None and length < 0) or request_size <= 0:
            raise ConfigError("offset, length and request_size must not be negative")
        url = self._url("files", quote_path(path))
        what = f"download {path!r}"
        position, end = offset, None if length is None else offset + length
        while end is None or position < end:
            last = position + request_size if end is None else min(end, position + request_size)
            response = await self._range_request(url, position, last, what=what)
            if response is None:
                return
            total: int | None = None
            partial = response.status_code == 206
            try:
                if partial:
                    total = _content_range_total(response, position)
                    self.range_supported = True
                    body = response.aiter_bytes()
                else:  # 200: the whole file from its first byte
                    if position > 0:
                        self.range_supported = False
                        log.debug("%s ignored Range: skipping %d bytes", redact(url), position)
                    body = _slice_stream(response.aiter_bytes(), position, end)
                async for chunk in body:
                    position += len(chunk)
                    yield chunk
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, what=what, url=url) from None
            finally:
                await response.aclose()
            if not partial or position < last or (total is not None and position >= total):
                return  # all of it, or a short answer: the end of the file

    async def _range_request(
        self, url: str, first: int, end: int, *, what: str
    ) -> httpx.Response | None:
        """A streamed ``GET`` of bytes ``first`` to ``end - 1``; ``None`` past the end (416)."""
        # identity: a compressed answer would make the byte range meaningless.
        headers = {"Range": f"bytes={first}-{end - 1}", "Accept-Encoding": "identity"}
        try:
            return await self._request("GET", url, what=what, headers=headers, stream=True)
        except JupyterHTTPError as exc:
            if exc.status == 416:  # the range starts at or past the end: nothing left
                return None
            raise

    async def read_range(self, path: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``path`` from ``offset`` (fewer at the end of the file)."""
        pieces = []
        async with contextlib.aclosing(
            self.download(path, offset=offset, length=length, request_size=max(length, 1))
        ) as stream:
            async for piece in stream:
                pieces.append(piece)
        return b"".join(pieces)

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


#: JSON bodies this large or larger go out through a one-shot stream (see ``_request``).
_ONE_SHOT_BODY = 256 * 1024


def _encode_json(value: Any) -> bytes:
    """``value`` as compact JSON bytes, as httpx's ``json=`` would send it."""
    return json_module.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


class _OneShotBody:
    """A request body that forgets its bytes once sent.

    httpx keeps every ``Response`` in a reference cycle (``response.stream`` refers back
    to it), and the response refers to its ``Request``: a body given as ``json=`` or
    ``content=bytes`` therefore lives until the cyclic garbage collector runs, which a
    stream of multi-megabyte upload chunks outpaces (the SFTP server's memory grew by
    hundreds of MB). Given as this async iterable, the body is released as it is sent.
    """

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body, self._body = self._body, None
        if body is None:
            raise RuntimeError("a one-shot request body cannot be sent twice")
        yield body


def _no_cookies() -> http.cookiejar.CookieJar:
    # The token authenticates every request. The server's login and _xsrf cookies would
    # only be a second credential to keep (and to leak); refuse to store them.
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class _EncodedJSON:
    """A JSON request body already encoded, sent as is (see :func:`_file_body`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _file_body(data: bytes, *, chunk: int | None = None) -> _EncodedJSON:
    """The Contents API body that saves ``data`` (as chunk ``chunk`` when given), encoded.

    Built as bytes rather than through ``json``: base64's alphabet needs no JSON escaping,
    and the encoder's scan of a multi-megabyte string sat between two chunks of an
    upload (measured: about a fifth of an SFTP upload's critical path).
    """
    fields = b'{"type":"file","format":"base64",'
    if chunk is not None:
        fields += b'"chunk":%d,' % chunk
    return _EncodedJSON(fields + b'"content":"' + base64.b64encode(data) + b'"}')


def _clean_path(path: str) -> str:
    # The same normalisation quote_path applies, unquoted: for paths sent in JSON bodies.
    quote_path(path)  # validates (no NUL, no ..)
    return "/".join(s for s in path.split("/") if s not in {"", "."})


def _quote_id(identifier: str) -> str:
    if not identifier or "/" in identifier or identifier in {".", ".."}:
        raise ConfigError(f"not a valid id: {identifier!r}")
    return quote_path(identifier)


def _content_range_total(response: httpx.Response, position: int) -> int | None:
    """The file size from a 206's ``Content-Range``, after checking where it starts."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if match is None:
        raise JupyterError(
            "a 206 answer without a usable Content-Range", where=_request_url(response)
        )
    if int(match.group(1)) != position:
        raise JupyterError(
            f"asked for bytes from {position}, the server sent from {match.group(1)}",
            where=_request_url(response),
        )
    return None if match.group(3) == "*" else int(match.group(3))


async def _slice_stream(
    chunks: AsyncIterator[bytes], start: int, end: int | None
) -> AsyncIterator[bytes]:
    """The bytes of ``chunks`` from ``start`` up to ``end`` (exclusive, or all)."""
    seen = 0
    async for chunk in chunks:
        lo, hi = max(start - seen, 0), len(chunk) if end is None else min(end - seen, len(chunk))
        seen += len(chunk)
        if lo < hi:
            yield chunk[lo:hi]
        if end is not None and seen >= end:
            return


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()
    if not verify:
        log.warning("TLS certificate checks are off for the kernel WebSocket")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
