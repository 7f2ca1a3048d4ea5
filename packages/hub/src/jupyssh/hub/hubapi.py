"""The hub's REST API, as a service with a least-privilege role uses it.

A JupyterHub service gets ``$JUPYTERHUB_API_TOKEN`` and ``$JUPYTERHUB_API_URL`` (managed
services from the hub; external ones from whoever runs them). Users' servers are reached
through the hub's proxy: ``<proxy_url>user/<name>/``; by default the proxy is where the
API URL points, without its ``hub/api`` (an API URL of the hub itself, such as a managed
service's ``http://127.0.0.1:8081/hub/api``, needs ``proxy_url`` given).

Scopes used: ``read:users:name`` and ``read:servers`` (:meth:`HubAPI.user_server`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from jupyssh.hub.errors import HubAPIError, HubAuthError, HubConfigError

__all__ = [
    "API_TOKEN_ENV",
    "API_URL_ENV",
    "HubAPI",
    "HubService",
    "UserServer",
    "valid_user_name",
]

API_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - the variable's name, not a token
API_URL_ENV = "JUPYTERHUB_API_URL"
_API_SUFFIX = "hub/api"
#: What a login name may be before anything is asked of the hub: JupyterHub's own names
#: (lowercase by default) and nothing that could change a URL path.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def valid_user_name(name: str) -> bool:
    """Whether ``name`` may be looked up at all (a name with ``/``, ``..`` or spaces never)."""
    return _USER_NAME.fullmatch(name) is not None and ".." not in name


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
    """A user's (default) server as the hub describes it."""

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
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, *, what: str) -> Any:
        url = f"{self.service.api_url}/{path}"
        try:
            response = await self._http.request(method, url)
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
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise HubAPIError(f"{what}: HTTP {response.status_code}", where=self.service.api_url)
        try:
            return response.json()
        except ValueError as exc:
            raise HubAPIError(f"{what}: the hub did not answer JSON", where=url) from exc

    async def user_server(self, user: str) -> UserServer | None:
        """``user``'s default server, ``None`` if the hub has no such user or no such
        server running or starting."""
        if not valid_user_name(user):
            return None
        body = await self._json("GET", f"users/{quote(user, safe='')}", what=f"user {user}")
        if not isinstance(body, dict) or body.get("name") != user:
            return None
        servers = body.get("servers") or {}
        server = servers.get("") if isinstance(servers, dict) else None
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
