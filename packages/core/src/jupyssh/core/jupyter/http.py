"""The HTTP layer of ``JupyterClient``: one request, its failure as a typed error, and the
body encodings.

Every HTTP failure becomes a typed error (``error_for_response``): 401/403
``JupyterAuthError``, 404 ``JupyterNotFoundError``, any other status
``JupyterHTTPError``; a server that cannot be reached is a ``JupyterError`` naming the URL
and what to try, and a request that outlives the timeout an ``OperationTimeout``.
The token travels in the ``Authorization`` header only; no URL, repr or log line holds it.
:class:`HTTPClient` holds the connection pool; ``contents.ContentsClient`` and
``rest.JupyterClient`` add the APIs on top of it.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import ipaddress
import json as json_module
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from jupyssh.core.errors import (
    ConfigError,
    JupyterAuthError,
    JupyterError,
    JupyterHTTPError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter.auth import authorization_headers, redact
from jupyssh.core.jupyter.upload import DEFAULT_CHUNK_SIZE
from jupyssh.core.jupyter.urls import ServerURL, api_url, parse_server_url

__all__ = ["KEEPALIVE_EXPIRY", "HTTPClient", "error_for_response"]

log = logging.getLogger(__name__)

_REASON_LIMIT = 300
#: Seconds an idle connection is kept for reuse: under the 5 s after which Node's HTTP
#: servers (JupyterHub's configurable-http-proxy) close idle ones, and which is httpx's own
#: default. At equal bounds a request can go out on a connection the proxy is closing:
#: "Server disconnected without sending a response" (encode/httpx#2983), a failed POST.
KEEPALIVE_EXPIRY = 2.0
_Client = TypeVar("_Client", bound="HTTPClient")


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


class HTTPClient:
    """The connection pool and request plumbing of one Jupyter server's client; the
    arguments are ``JupyterClient``'s (see there)."""

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
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
        )

    def __repr__(self) -> str:
        token = "None" if self._token is None else "<redacted>"
        return f"{type(self).__name__}(base_url={self.base_url!r}, token={token})"

    async def __aenter__(self: _Client) -> _Client:
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


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()
    if not verify:
        log.warning("TLS certificate checks are off for the kernel WebSocket")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
