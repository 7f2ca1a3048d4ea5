"""The hub harness itself: a real JupyterHub whose service, with its least-privilege role,
starts a user's server through the hub API and reaches it through the hub's proxy, and
whose users' tokens reach their own servers only."""

from __future__ import annotations

import httpx
from jupyssh_harness import BuiltImage, JupyterHub, ensure_image
from jupyssh_harness.wheelhouse import extra_wheels_from_env


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=30, trust_env=False)


def test_the_service_starts_alices_server_and_reaches_it_through_the_proxy(
    hub: JupyterHub,
) -> None:
    hub.start_server("alice", token=hub.service_token)

    response = _get(hub.server_url("alice") + "api/status", hub.service_token)

    assert response.status_code == 200, response.text
    assert "started" in response.json()


def test_the_service_role_grants_no_tokens(hub: JupyterHub) -> None:
    response = hub.api("POST", "users/alice/tokens", token=hub.service_token, json={})

    assert response.status_code == 403


def test_bobs_token_reaches_bobs_server_but_not_alices(hub: JupyterHub) -> None:
    hub.start_server("alice")
    hub.start_server("bob")
    bob = hub.user_token("bob")

    own = _get(hub.server_url("bob") + "api/status", bob)
    other = _get(hub.server_url("alice") + "api/status", bob)

    assert own.status_code == 200, own.text
    assert other.status_code in {302, 403}, other.text
    assert "started" not in other.text


def test_servers_run_as_their_users(hub: JupyterHub) -> None:
    hub.start_server("carol")

    processes = hub.exec(["ps", "-o", "user=,args=", "-u", "carol"]).stdout

    assert "jupyterhub-singleuser" in processes


def test_the_proxy_is_published_on_loopback_only(hub: JupyterHub) -> None:
    wrapped = hub.container.get_wrapped_container()
    wrapped.reload()
    bindings = wrapped.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
    assert bindings
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}


def test_the_hub_image_is_not_rebuilt_and_its_proxy_tree_is_cached(
    harness_images: dict[str, BuiltImage],
) -> None:
    wheels = extra_wheels_from_env()
    again = ensure_image("hub", extra_wheels=wheels)

    assert not again.built
    assert again.tag == harness_images["hub"].tag
