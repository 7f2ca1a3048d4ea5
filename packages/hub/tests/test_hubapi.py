"""The hub's REST API as the service sees it: settings from the environment a hub gives its
services, and a user's server from ``GET /hub/api/users/<name>``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from jupyssh.hub import (
    HubAPI,
    HubAPIError,
    HubAuthError,
    HubConfigError,
    HubService,
    Login,
    valid_user_name,
)

API = "http://127.0.0.1:8000/hub/api"
TOKEN = "s" * 48


def _user(name: str, servers: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "user", "name": name, "servers": servers}


def _server(url: str, *, ready: bool = True, pending: str | None = None) -> dict[str, Any]:
    return {"name": "", "url": url, "ready": ready, "pending": pending}


def _api(routes: dict[str, tuple[int, Any]], seen: list[str], proxy: str | None = None) -> HubAPI:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        assert request.headers["Authorization"] == f"token {TOKEN}"
        status, body = routes.get(request.url.path, (404, {"message": "Not found"}))
        return httpx.Response(status, content=json.dumps(body).encode())

    service = HubService.from_env({"JUPYTERHUB_API_TOKEN": TOKEN}, api_url=API, proxy_url=proxy)
    return HubAPI(service, transport=httpx.MockTransport(answer))


def _user_server(api: HubAPI, name: str) -> Any:
    async def ask() -> Any:
        try:
            return await api.user_server(name)
        finally:
            await api.aclose()

    return asyncio.run(ask())


def test_the_service_settings_come_from_the_hubs_environment() -> None:
    service = HubService.from_env({"JUPYTERHUB_API_TOKEN": TOKEN, "JUPYTERHUB_API_URL": API})

    assert service.api_url == API
    assert service.proxy_url == "http://127.0.0.1:8000/"
    assert TOKEN not in repr(service)


def test_no_token_is_a_config_error_that_says_where_it_comes_from() -> None:
    with pytest.raises(HubConfigError, match=r"JUPYTERHUB_API_TOKEN") as caught:
        HubService.from_env({"JUPYTERHUB_API_URL": API})
    assert caught.value.exit_code == 3


def test_no_api_url_is_a_config_error() -> None:
    with pytest.raises(HubConfigError, match=r"--hub-api-url"):
        HubService.from_env({"JUPYTERHUB_API_TOKEN": TOKEN})


def test_an_api_url_that_is_not_the_proxys_needs_the_proxy_url() -> None:
    environ = {"JUPYTERHUB_API_TOKEN": TOKEN, "JUPYTERHUB_API_URL": "http://hub:8081/api"}
    with pytest.raises(HubConfigError, match=r"--proxy-url"):
        HubService.from_env(environ)
    assert HubService.from_env(environ, proxy_url="http://proxy").proxy_url == "http://proxy/"


def test_a_ready_server_is_found_through_the_proxy() -> None:
    seen: list[str] = []
    api = _api({"/hub/api/users/alice": (200, _user("alice", {"": _server("/user/alice/")}))}, seen)

    server = _user_server(api, "alice")

    assert server.url == "http://127.0.0.1:8000/user/alice/"
    assert server.ready
    assert seen == ["/hub/api/users/alice"]


def test_the_hubs_base_url_is_kept_once() -> None:
    """The hub gives the server's path with its base_url: it replaces the proxy URL's path."""
    body = _user("alice", {"": _server("/jhub/user/alice/")})
    api = _api({"/hub/api/users/alice": (200, body)}, [], proxy="http://127.0.0.1:8000/jhub/")

    assert _user_server(api, "alice").url == "http://127.0.0.1:8000/jhub/user/alice/"


def test_no_user_or_no_server_is_none() -> None:
    seen: list[str] = []
    api = _api({"/hub/api/users/carol": (200, _user("carol", {}))}, seen)
    assert _user_server(api, "carol") is None
    api = _api({}, seen)
    assert _user_server(api, "mallory") is None


def test_a_refused_service_is_an_auth_error_naming_the_scopes() -> None:
    api = _api({"/hub/api/users/alice": (403, {"message": "Forbidden"})}, [])

    with pytest.raises(HubAuthError, match="refused the service") as caught:
        _user_server(api, "alice")
    assert "read:servers" in (caught.value.hint or "")


@pytest.mark.parametrize("name", ["", "../alice", "alice/..", "a b", "alice/x", "-x", "a" * 65])
def test_names_that_are_no_hub_user_are_never_looked_up(name: str) -> None:
    seen: list[str] = []

    assert not valid_user_name(name)
    assert _user_server(_api({}, seen), name) is None
    assert seen == []


@pytest.mark.parametrize("name", ["alice", "bob.smith", "a1", "user@example.org", "x-y_z"])
def test_hub_user_names_are_valid(name: str) -> None:
    assert valid_user_name(name)


def _call(api: HubAPI, coro_fn: Any) -> Any:
    async def run() -> Any:
        try:
            return await coro_fn(api)
        finally:
            await api.aclose()

    return asyncio.run(run())


def test_starting_a_server_takes_the_hubs_202_with_no_json_body() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/hub/api/users/bob/server":
            return httpx.Response(202, content=b"")
        return httpx.Response(404, json={"message": "Not found"})

    service = HubService(api_url=API, token=TOKEN, proxy_url="http://127.0.0.1:8000/")
    api = HubAPI(service, transport=httpx.MockTransport(answer))

    assert _call(api, lambda a: a.start_server("bob")) is True


def test_starting_the_server_of_no_user_is_false() -> None:
    api = _api({}, [])

    assert _call(api, lambda a: a.start_server("mallory")) is False


def test_waiting_for_a_server_that_stops_pending_without_being_ready_fails() -> None:
    body = _user("bob", {"": _server("/user/bob/", ready=False, pending=None)})
    api = _api({"/hub/api/users/bob": (200, body)}, [])

    with pytest.raises(HubAPIError, match="failed to start"):
        _call(api, lambda a: a.wait_ready("bob", 5.0, interval=0.01))


def test_waiting_for_a_server_that_stays_pending_times_out() -> None:
    body = _user("bob", {"": _server("/user/bob/", ready=False, pending="spawn")})
    api = _api({"/hub/api/users/bob": (200, body)}, [])

    with pytest.raises(HubAPIError, match=r"did not start within 0\.05 s"):
        _call(api, lambda a: a.wait_ready("bob", 0.05, interval=0.01))


def _token_api(status: int, body: dict[str, Any]) -> tuple[HubAPI, list[str]]:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        assert request.url.path == "/hub/api/user"
        return httpx.Response(status, content=json.dumps(body).encode())

    service = HubService(api_url=API, token=TOKEN, proxy_url="http://127.0.0.1:8000/")
    return HubAPI(service, transport=httpx.MockTransport(answer)), seen


def test_a_users_token_names_its_user_and_is_sent_instead_of_the_services() -> None:
    body = {"kind": "user", "name": "alice", "scopes": ["access:servers!user=alice"]}
    api, seen = _token_api(200, body)

    assert _call(api, lambda a: a.token_user("u" * 32)) == "alice"
    assert seen == [f"token {'u' * 32}"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"message": "Forbidden"}),
        (200, {"kind": "service", "name": "alice", "scopes": ["access:servers"]}),
        (200, {"kind": "user", "name": "alice", "scopes": ["read:users!user=alice"]}),
        (200, {"kind": "user", "name": "alice", "scopes": ["access:servers!user=bob"]}),
    ],
)
def test_a_token_that_cannot_reach_its_users_server_names_nobody(
    status: int, body: dict[str, Any]
) -> None:
    api, _ = _token_api(status, body)

    assert _call(api, lambda a: a.token_user("u" * 32)) is None


@pytest.mark.parametrize(
    ("name", "user", "server", "path"),
    [
        ("alice", "alice", "", "users/alice/server"),
        ("alice:gpu", "alice", "gpu", "users/alice/servers/gpu"),
        ("bob.smith:big-1", "bob.smith", "big-1", "users/bob.smith/servers/big-1"),
    ],
)
def test_a_login_names_a_user_and_maybe_a_named_server(
    name: str, user: str, server: str, path: str
) -> None:
    login = Login.parse(name)

    assert login == Login(user, server)
    assert str(login) == name
    assert login.server_path() == path


@pytest.mark.parametrize("name", ["alice:", "alice:..", "alice:a/b", ":gpu", "alice:x:y", "a b:c"])
def test_a_login_that_names_nothing_the_hub_could_have_is_none(name: str) -> None:
    assert Login.parse(name) is None


def test_a_named_server_is_found_by_its_name() -> None:
    body = _user("alice", {"": _server("/user/alice/"), "gpu": _server("/user/alice/gpu/")})
    api = _api({"/hub/api/users/alice": (200, body)}, [])

    server = _call(api, lambda a: a.user_server("alice", "gpu"))

    assert server.url == "http://127.0.0.1:8000/user/alice/gpu/"
