"""The hub's REST API, as a service with a least-privilege role uses it.

A JupyterHub service gets ``$JUPYTERHUB_API_TOKEN`` and ``$JUPYTERHUB_API_URL`` (managed
services from the hub; external ones from whoever runs them). Users' servers are reached
through the hub's proxy: ``<proxy_url>user/<name>/``; by default the proxy is where the
API URL points, without its ``hub/api`` (an API URL of the hub itself, such as a managed
service's ``http://127.0.0.1:8081/hub/api``, needs ``proxy_url`` given).

Scopes used: ``read:users:name`` and ``read:servers`` (:meth:`HubAPI.user_server`),
``servers`` (:meth:`HubAPI.start_server`). :meth:`HubAPI.token_user` asks with a user's
token, not the service's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from jupyssh.core.jupyter.http import KEEPALIVE_EXPIRY
from jupyssh.hub.errors import HubAPIError, HubAuthError, HubConfigError

__all__ = [
    "API_TOKEN_ENV",
    "API_URL_ENV",
    "HubAPI",
    "HubService",
    "Login",
    "UserServer",
    "may_reach",
    "valid_user_name",
]

API_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - the variable's name, not a token
API_URL_ENV = "JUPYTERHUB_API_URL"
_API_SUFFIX = "hub/api"
#: What a login name may be before anything is asked of the hub: JupyterHub's own names
#: (lowercase by default) and nothing that could change a URL path.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


#: A named server's name, as jupyssh-hub accepts it in a login (``alice:gpu``).
_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def valid_user_name(name: str) -> bool:
    """Whether ``name`` may be looked up at all (a name with ``/``, ``..`` or spaces never)."""
    return _USER_NAME.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True)
class Login:
    """Whom an SSH login names: ``alice`` (her default server) or ``alice:gpu`` (her named
    server ``gpu``)."""

    user: str
    server: str = ""

    @classmethod
    def parse(cls, name: str) -> Login | None:
        """The login ``name`` names, or ``None`` if it names nothing the hub could have."""
        user, colon, server = name.partition(":")
        if not valid_user_name(user):
            return None
        if colon and (_SERVER_NAME.fullmatch(server) is None or ".." in server):
            return None
        return cls(user, server)

    def __str__(self) -> str:
        return f"{self.user}:{self.server}" if self.server else self.user

    @property
    def server_label(self) -> str:
        """``alice's server`` or ``alice's server gpu``, for lines shown to people."""
        return f"{self.user}'s server" + (f" {self.server}" if self.server else "")

    def server_path(self) -> str:
        """The hub API path of the server: ``users/alice/server`` or ``…/servers/gpu``."""
        user = quote(self.user, safe="")
        if self.server:
            return f"users/{user}/servers/{quote(self.server, safe='')}"
        return f"users/{user}/server"


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True)
class HubService:
    """Where the hub is, and the service's token."""

    api_url: str
    token: str = field(repr=False)
    proxy_url: str

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        api_url: str | None = None,
        proxy_url: str | None = None,
    ) -> HubService:
        """The service's settings from the environment a hub gives its services."""
        token = environ.get(API_TOKEN_ENV, "")
        if not token:
            raise HubConfigError(
                f"no hub API token: ${API_TOKEN_ENV} is not set",
                hint="run as a JupyterHub service (c.JupyterHub.services, with a role), or "
                f"set ${API_TOKEN_ENV} to the service's token",
            )
        api = (api_url or environ.get(API_URL_ENV, "")).rstrip("/")
        if not api.startswith(("http://", "https://")):
            raise HubConfigError(
                f"no hub API URL: give --hub-api-url or set ${API_URL_ENV}",
                hint="e.g. http://127.0.0.1:8000/hub/api",
            )
        if proxy_url is None:
            if not api.endswith(_API_SUFFIX):
                raise HubConfigError(
                    f"cannot tell the hub's proxy from the API URL {api}",
                    hint="give --proxy-url (where users' servers are, /user/<name>/)",
                )
            proxy_url = api.removesuffix(_API_SUFFIX)
        return cls(api_url=api, token=token, proxy_url=_with_slash(proxy_url))


@dataclass(frozen=True)
class UserServer:
    """A user's server (default or named) as the hub describes it."""

    user: str
    #: the server's URL through the proxy, with a trailing slash
    url: str
    ready: bool
    pending: str | None


class HubAPI:
    """An async client of the hub's REST API with the service's token (on one loop)."""

    def __init__(
        self,
        service: HubService,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"token {service.token}"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,  # a redirect must not carry the token elsewhere
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),  # the hub's proxy is Node
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        accept: int = 0,
        token: str | None = None,
    ) -> httpx.Response | None:
        """The hub's answer; ``None`` for 404 or for the error status ``accept``; typed
        errors for the rest of the 4xx and 5xx."""
        url = f"{self.service.api_url}/{path}"
        try:
            headers = None if token is None else {"Authorization": f"token {token}"}
            response = await self._http.request(method, url, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise HubAPIError(f"{what}: {exc}", where=self.service.api_url) from exc
        if response.status_code in {401, 403}:
            raise HubAuthError(
                f"{what}: the hub refused the service (HTTP {response.status_code})",
                where=self.service.api_url,
                hint="check the service's token and that its role has read:users:name, "
                "read:servers, servers and access:servers",
                status=response.status_code,
            )
        if response.status_code in {404, accept}:
            return None
        if response.status_code >= 400:
            raise HubAPIError(
                f"{what}: HTTP {response.status_code}{_message(response)}",
                where=self.service.api_url,
            )
        return response

    async def _json(self, path: str, *, what: str) -> Any:
        """``GET path``'s JSON; ``None`` for 404."""
        response = await self._send("GET", path, what=what)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise HubAPIError(
                f"{what}: the hub did not answer JSON", where=str(response.url)
            ) from exc

    async def user_server(self, user: str, server_name: str = "") -> UserServer | None:
        """``user``'s default (or named) server, ``None`` if the hub has no such user or no
        such server running or starting."""
        if Login.parse(f"{user}:{server_name}" if server_name else user) is None:
            return None
        body = await self._json(f"users/{quote(user, safe='')}", what=f"user {user}")
        if not isinstance(body, dict) or body.get("name") != user:
            return None
        servers = body.get("servers") or {}
        server = servers.get(server_name) if isinstance(servers, dict) else None
        if not isinstance(server, dict):
            return None
        # The hub gives the path on the proxy (its base_url included): keep the proxy's origin.
        path = str(server.get("url") or f"/user/{quote(user, safe='')}/")
        pending = server.get("pending")
        return UserServer(
            user=user,
            url=_with_slash(str(httpx.URL(self.service.proxy_url).join(path))),
            ready=bool(server.get("ready")),
            pending=str(pending) if pending else None,
        )

    async def start_server(self, user: str, server_name: str = "") -> bool:
        """Ask the hub to start ``user``'s default (or named) server (a no-op if it runs or
        is starting); ``False`` if the hub has no such user."""
        login = Login.parse(f"{user}:{server_name}" if server_name else user)
        if login is None:
            return False
        what = f"start {login.server_label}"
        # 400: already running or pending, which is what was asked for
        answer = await self._send("POST", login.server_path(), what=what, json={}, accept=400)
        if answer is not None:
            return True
        # None: a 404 (no such user), or that 400
        return await self.user_server(user, server_name) is not None

    async def token_user(self, token: str, server_name: str = "") -> str | None:
        """The user whose API token ``token`` is, if the hub accepts it and it may reach that
        user's (named) server (``access:servers`` for it); else ``None``."""
        try:
            response = await self._send("GET", "user", what="check a token", token=token)
        except HubAuthError:  # 401/403: the hub refused the token
            return None
        if response is None:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("kind") != "user":
            return None
        name = body.get("name")
        if not isinstance(name, str) or not may_reach(Login(name, server_name), body.get("scopes")):
            return None
        return name

    async def wait_ready(
        self, user: str, timeout: float, *, server_name: str = "", interval: float = 0.25
    ) -> UserServer:
        """``user``'s (named) server once the hub says it is ready; :class:`HubAPIError` when
        it stops pending without being ready, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        label = Login(user, server_name).server_label
        while True:
            server = await self.user_server(user, server_name)
            if server is not None and server.ready:
                return server
            if server is None or server.pending is None:
                raise HubAPIError(f"{label} failed to start", where=self.service.api_url)
            if loop.time() > deadline:
                raise HubAPIError(
                    f"{label} did not start within {timeout:g} s",
                    where=self.service.api_url,
                )
            await asyncio.sleep(interval)


def _message(response: httpx.Response) -> str:
    """``: <the hub's message>`` (JupyterHub answers errors as ``{"message": …}``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {' '.join(str(message).split())[:200]}" if message else ""


def may_reach(login: Login, scopes: object) -> bool:
    """Whether a token's (expanded) scopes reach the server ``login`` names."""
    if not isinstance(scopes, list):
        return False
    wanted = {
        "access:servers",
        f"access:servers!user={login.user}",
        f"access:servers!server={login.user}/{login.server}",
    }
    return any(scope in wanted for scope in scopes)
