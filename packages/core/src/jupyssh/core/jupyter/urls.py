"""Jupyter server URLs: from whatever a user pasted to the base URL every request uses.

Users paste what their browser or ``jupyter server list`` shows: ``/lab?token=…``,
``/tree``, ``/notebooks/x.ipynb``, a JupyterHub ``/user/NAME/lab/tree/…`` address, a
server started with ``--ServerApp.base_url=/jupyter/``. ``parse_server_url`` reduces each
to the server's base URL (always ending in ``/``) and the token the URL carried, if any.
The token is then sent only in the ``Authorization`` header, never in a URL, so the
request URLs built here never hold it.

Pure functions, no I/O: ``JupyterClient`` and ``KernelConnection`` call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter.auth import redact

__all__ = ["ServerURL", "api_url", "parse_server_url", "quote_path", "websocket_url"]

#: First path segments of pages and endpoints a Jupyter server serves under its base URL.
#: Everything from the first of these on is a page inside the server, not its base.
_SERVER_PAGES = frozenset(
    {
        "api",
        "consoles",
        "doc",
        "edit",
        "files",
        "kernelspecs",
        "lab",
        "login",
        "logout",
        "nbclassic",
        "nbconvert",
        "notebooks",
        "retro",
        "static",
        "terminals",
        "tree",
        "view",
        "voila",
    }
)

_HUB_HINT = "use the address of your own server, https://HOST/user/NAME/ (or its /lab page)"


@dataclass(frozen=True)
class ServerURL:
    """A Jupyter server's base URL and the token a pasted URL carried.

    ``base_url`` has no query, no fragment and ends with ``/``. The token is kept out of
    ``repr`` so that a ``ServerURL`` can be logged or shown in a traceback.
    """

    base_url: str
    token: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        token = "None" if self.token is None else "<redacted>"
        return f"ServerURL(base_url={self.base_url!r}, token={token})"


def parse_server_url(url: str) -> ServerURL:
    """Reduce a pasted Jupyter URL to its server's base URL and token.

    Accepts http and https only; refuses credentials in the URL (``user:pw@``) and the
    JupyterHub hub's own pages, which are not a user's server. Raises ``ConfigError``
    with what to paste instead.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # parses the port: raises ValueError when it is not a number
    except ValueError as exc:
        raise ConfigError(f"not a valid URL: {exc}", where=_safe(text)) from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise ConfigError(
            "a Jupyter server URL must start with http:// or https://",
            where=_safe(text),
            hint="paste the URL the server printed, e.g. http://127.0.0.1:8888/lab?token=…",
        )
    if not parts.hostname:
        raise ConfigError("the URL names no host", where=_safe(text))
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "credentials in the URL are not supported",
            where=_safe(text),
            hint="remove USER:PASSWORD@ and give the Jupyter token instead",
        )
    if port == 0:
        raise ConfigError("port 0 is not a server port", where=_safe(text))
    base_path = _base_path(parts.path, where=_safe(text))
    base_url = urlunsplit((scheme, parts.netloc, base_path, "", ""))
    return ServerURL(base_url=base_url, token=_token_from_query(parts.query))


def _base_path(path: str, *, where: str) -> str:
    """The base path of the server a page path belongs to, ending with ``/``."""
    segments = [s for s in path.split("/") if s]
    base: list[str] = []
    index = 0
    while index < len(segments):
        segment = segments[index]
        if segment == "hub":
            # JupyterHub: /hub/user/NAME/… is the legacy spelling of /user/NAME/…; any
            # other /hub/ page (login, home, spawn, user-redirect) is the hub itself.
            rest = segments[index + 1 : index + 3]
            if len(rest) == 2 and rest[0] == "user":
                index += 1
                continue
            raise ConfigError("this is the JupyterHub's own page", where=where, hint=_HUB_HINT)
        if segment == "user" and index + 1 < len(segments):
            # /user/NAME/: NAME may itself look like a page ("lab"); it belongs to the base.
            base += segments[index : index + 2]
            index += 2
            continue
        if segment in _SERVER_PAGES:
            break
        base.append(segment)
        index += 1
    return "/" + "".join(f"{segment}/" for segment in base)


def _token_from_query(query: str) -> str | None:
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "token" and value:
            return value
    return None


def _safe(url: str) -> str:
    # Error messages name the URL the user gave, minus any token it carried.
    return redact(url)


def quote_path(path: str) -> str:
    """Quote an API path (``dir/file name.txt``) for a URL, one segment at a time.

    Contents paths are relative to the server's root: leading, trailing and repeated
    slashes and ``.`` segments are dropped. ``..`` and NUL are refused (``ConfigError``),
    so that a path never names something outside what the caller meant.
    """
    if "\x00" in path:
        raise ConfigError("a path cannot contain a NUL byte", where=repr(path))
    segments = [s for s in path.split("/") if s not in {"", "."}]
    if ".." in segments:
        raise ConfigError("a path cannot contain '..'", where=path)
    return "/".join(quote(s, safe="") for s in segments)


def api_url(base_url: str, *parts: str) -> str:
    """Join ``base_url`` (ending in ``/``) and already quoted path parts, skipping empty ones."""
    return base_url + "/".join(p.strip("/") for p in parts if p.strip("/"))


def terminal_websocket_url(base_url: str, name: str) -> str:
    """A terminal's WebSocket URL: ``ws(s)://…/terminals/websocket/<name>`` (terminado)."""
    http = api_url(base_url, "terminals/websocket", quote(name, safe=""))
    scheme, rest = http.split(":", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}:{rest}"


def websocket_url(base_url: str, kernel_id: str, session_id: str) -> str:
    """The kernel channels WebSocket URL: ``ws(s)://…/api/kernels/<id>/channels``."""
    http = api_url(base_url, "api/kernels", quote(kernel_id, safe=""), "channels")
    scheme, rest = http.split(":", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}:{rest}?session_id={quote(session_id, safe='')}"
