"""``jupyssh hub serve``: one SSH endpoint for every user of a JupyterHub, as a hub service."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import click

from jupyssh.bridge.forwarding import ForwardingPolicy
from jupyssh.bridge.server import BACKENDS, Backend, BridgeConfig
from jupyssh.core.cli import verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.core.server.options import server_options
from jupyssh.hub.hubapi import API_URL_ENV, HubService
from jupyssh.hub.server import AUTH_TIMEOUT, HubOptions, HubServer
from jupyssh.hub.websocket import PREFIX_ENV, SERVICE_URL_ENV, websocket_config

__all__ = ["hub"]


@click.group()
def hub() -> None:
    """SSH and SFTP into every user's server of a JupyterHub, as a hub service."""


@hub.command()
@server_options(default_port=2222, login_grace_time=None, one_server=False)
@click.option(
    "--hub-api-url",
    default=None,
    help=f"The hub's REST API (default ${API_URL_ENV}, which the hub gives its services).",
)
@click.option(
    "--proxy-url",
    default=None,
    help="Where users' servers are (/user/<name>/); default: the API URL without hub/api.",
)
@click.option(
    "--ws-listen",
    default=None,
    metavar="HOST:PORT",
    help=f"Also serve SSH over WebSocket here, for the hub's proxy to route the service's "
    f"URL to (default: ${SERVICE_URL_ENV}, which the hub gives a managed service declared "
    "with a url; none without it).",
)
@click.option(
    "--ws-prefix",
    default=None,
    help=f"The path the hub's proxy sends (default ${PREFIX_ENV}, else /services/jupyssh/).",
)
@click.option(
    "--max-per-user",
    type=click.IntRange(min=1),
    default=HubOptions().max_per_user,
    show_default=True,
    help="Authenticated connections one user may have at once.",
)
@click.option(
    "--start-servers/--no-start-servers",
    default=True,
    show_default=True,
    help="Start a user's stopped server at login (the client sees progress lines).",
)
@click.option(
    "--start-timeout",
    type=click.FloatRange(min=1),
    default=HubOptions().start_timeout,
    show_default=True,
    help="Seconds a login waits for a server to start.",
)
@click.option(
    "--token-password",
    is_flag=True,
    help="Also accept the user's hub API token typed as the password (checked against the "
    "hub; it must reach the user's server).",
)
@click.option(
    "--warm-kernels",
    type=click.IntRange(min=0),
    default=HubOptions().warm_kernels,
    show_default=True,
    help="Kernels kept started in each user's server once they have logged in, so that "
    "their next logins skip a kernel's start (deleted when the service stops).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="kernel",
    show_default=True,
    help="Where interactive shells run: a PTY process in a kernel of the user's server, or "
    "a terminal of its terminals API. Commands always run in a kernel.",
)
@json_option
@verbosity_option
@pass_output
def serve(
    output: Output,
    *,
    server_config: ServerConfig,
    login_grace_time: float | None,
    hub_api_url: str | None,
    proxy_url: str | None,
    ws_listen: str | None,
    ws_prefix: str | None,
    max_per_user: int,
    start_servers: bool,
    start_timeout: float,
    token_password: bool,
    warm_kernels: int,
    backend: Backend,
) -> None:
    """Serve SSH for the hub's users until interrupted (Ctrl-C, SIGTERM).

    A login as USER is USER's server: commands, shells and sftp run there, authenticated
    by the keys in ~/.ssh/authorized_keys of that server. The service's token comes from
    $JUPYTERHUB_API_TOKEN; its role needs read:users:name, read:servers, servers and
    access:servers. With --ws-listen (or a url in the service's declaration) the service's
    URL also takes SSH over WebSocket, opened with the user's hub API token.
    --login-grace-time defaults to 20 s, plus --start-timeout when servers are started at
    login (the login waits for the start).
    """
    service = HubService.from_env(os.environ, api_url=hub_api_url, proxy_url=proxy_url)
    websocket = websocket_config(os.environ, listen=ws_listen, prefix=ws_prefix)
    if login_grace_time is None:  # a login may wait for the hub to start the user's server
        login_grace_time = AUTH_TIMEOUT + (start_timeout if start_servers else 0)
    config = replace(server_config, login_grace_time=login_grace_time)
    options = HubOptions(
        start_servers=start_servers,
        start_timeout=start_timeout,
        token_password=token_password,
        max_per_user=max_per_user,
        warm_kernels=warm_kernels,
    )
    bridge = BridgeConfig(backend=backend, forwarding=ForwardingPolicy(forwarding="none"))
    with HubServer(service, config, bridge, options, websocket) as server:
        bound_host, bound_port = server.address
        facts: dict[str, Any] = {
            "listen": f"{bound_host}:{bound_port}",
            "hub_api": service.api_url,
            "proxy": service.proxy_url,
            "host_key_fingerprint": server.host_key_fingerprint(),
            "known_hosts": server.known_hosts_line(),
            "backend": backend,
            "websocket": None,
        }
        if server.websocket_address is not None and websocket is not None:
            ws_host, ws_port = server.websocket_address
            facts["websocket"] = f"{ws_host}:{ws_port}{websocket.prefix}"

        def human(_console: Any) -> None:
            click.echo(f"jupyssh-hub serving {service.api_url} on {facts['listen']}")
            click.echo(f"host key {facts['host_key_fingerprint']}")
            click.echo(f"known_hosts: {facts['known_hosts']}")
            if facts["websocket"]:
                click.echo(f"SSH over WebSocket on {facts['websocket']}")

        output.emit(facts, human)
        server.serve_forever(handle_signals=True)
