"""``jupyssh tunnel …``: a remote Jupyter server in the local browser; SSH over WebSocket.

``ws-proxy`` runs as ssh's ProxyCommand at every login, so this module imports only what
it needs at the top; each other command imports its machinery (asyncio, the reverse
tunnels' systemd code) when it runs.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.errors import ConfigError
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.tunnel.wsproxy import (
    DEFAULT_TOKEN_ENV,
    cleartext_warning,
    run_proxy,
    ssh_config_block,
    token_from_env,
)
from jupyssh.tunnel.wsproxy import parse_target as parse_ws_target

if TYPE_CHECKING:
    from rich.console import Console

    from jupyssh.tunnel.jupyter import OpenedJupyter, StoppedJupyter

__all__ = ["tunnel"]


@click.group()
def tunnel() -> None:
    """Tunnels over OpenSSH: a remote Jupyter in your browser, SSH over WebSocket."""


def _local_port(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    if value == "auto":
        return 0
    try:
        port = int(value)
    except ValueError:
        raise click.BadParameter("give a port number or 'auto'") from None
    if not 1 <= port <= 65535:
        raise click.BadParameter("a port is between 1 and 65535")
    return port


@tunnel.command()
@click.argument("alias")
@ssh_config_option
@click.option("--launch", is_flag=True, help="Start a Jupyter server there (generated token).")
@click.option(
    "--local-port",
    default="auto",
    show_default=True,
    callback=_local_port,
    help="Local port on 127.0.0.1: a number, or auto for a free one.",
)
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option("--stop", is_flag=True, help="Close the tunnel and stop the server it launched.")
@click.option(
    "--server",
    "server_url",
    default=None,
    metavar="URL",
    help="A server the host reaches (http://name:8888/) instead of one running on it.",
)
@click.option(
    "--token-env",
    default="JUPYTER_TOKEN",
    show_default=True,
    metavar="VAR",
    help="Environment variable holding the token of the --server URL.",
)
@click.option(
    "--show-token", is_flag=True, help="Print the URL with its token (implied by --no-browser)."
)
@click.option(
    "--tcp", is_flag=True, help="With --launch: listen on a TCP port, not on a Unix socket."
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds ssh may take to connect.",
)
@json_option
@verbosity_option
@pass_output
def jupyter(
    output: Output,
    *,
    alias: str,
    config_file: str | None,
    launch: bool,
    local_port: int,
    no_browser: bool,
    stop: bool,
    server_url: str | None,
    token_env: str,
    show_token: bool,
    tcp: bool,
    timeout: float,
) -> None:
    """Open the Jupyter server running on ALIAS in the local browser, through ssh.

    Finds the servers recorded on the host (read in a login shell, never deleting
    another node's records) or, with --launch, starts one; forwards a port on 127.0.0.1,
    checks /api/status with the token, then opens $BROWSER (or the system browser) and
    prints the URL. --stop closes the forward and stops a server it launched.
    """
    # Here, not at the top: the ws-proxy command (ssh's ProxyCommand, run at every login)
    # shares this module and must not pay for the Jupyter tunnel's HTTP client.
    import asyncio  # noqa: PLC0415

    from jupyssh.tunnel.jupyter import open_jupyter, stop_jupyter  # noqa: PLC0415

    if stop:
        stopped = asyncio.run(stop_jupyter(alias, config_file=config_file, connect_timeout=timeout))
        output.emit(stopped.to_dict(), lambda console: _show_stopped(console, stopped))
        return
    if launch and server_url:
        raise ConfigError("--launch and --server exclude each other")
    token = os.environ.get(token_env) if server_url else None
    opened = asyncio.run(
        open_jupyter(
            alias,
            config_file=config_file,
            launch=launch,
            local_port=local_port,
            browser=not no_browser,
            server_url=server_url,
            server_token=token,
            unix_socket=not tcp,
            connect_timeout=timeout,
        )
    )
    reveal = show_token or no_browser
    output.emit(
        opened.to_dict(show_token=reveal), lambda console: _show_opened(console, opened, reveal)
    )


def _show_opened(console: Console, opened: OpenedJupyter, reveal: bool) -> None:
    state, record = opened.state, opened.record
    if record.pid == 0:  # a --server URL the host reaches
        origin = f"at {record.hostname}:{record.port} via {state.alias}"
    else:
        where = record.sock or f"port {record.port}"
        origin = f"{'launched' if state.launch_id else 'running'} on {state.alias} ({where})"
    console.print(f"Jupyter {origin} is forwarded to {state.local_host}:{state.local_port}")
    if opened.browser_opened:
        console.print("opened in the browser")
    elif opened.open_file:
        console.print(f"no browser could be started; open this page in one: {_page_uri(opened)}")
    click.echo(opened.url_with_token if reveal else opened.url)
    if not reveal and opened.token:
        console.print(
            "[dim](the token went to the browser in a private page, never in a command "
            "line; --show-token prints it here)[/dim]"
        )
    config = f" -F {shlex.quote(state.config_file)}" if state.config_file else ""
    console.print(f"close with: jupyssh tunnel jupyter{config} {state.alias} --stop")


def _page_uri(opened: OpenedJupyter) -> str:
    return Path(opened.open_file).as_uri() if opened.open_file else ""


def _show_stopped(console: Console, stopped: StoppedJupyter) -> None:
    console.print(f"closed the tunnel to {stopped.alias} ({stopped.url})")
    if stopped.launched:
        console.print(
            "stopped the Jupyter server it launched"
            if stopped.server_stopped
            else "the Jupyter server it launched had already ended"
        )


@tunnel.command("ws-proxy")
@click.argument("url")
@click.option(
    "--token-env",
    default=DEFAULT_TOKEN_ENV,
    show_default=True,
    metavar="VAR",
    help="Environment variable holding the Jupyter server's token.",
)
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Seconds to connect.")
@verbosity_option
def ws_proxy(*, url: str, token_env: str, timeout: float) -> None:
    """Bridge stdin/stdout to the sshd WebSocket at URL: an ssh ProxyCommand.

    URL is the server's sshd endpoint (jupyter-sshd-proxy), e.g. https://HUB/user/NAME/sshd/.
    The token is read from $VAR, never from the command line. Use it as
    ssh -o ProxyCommand="jupyssh tunnel ws-proxy URL" NAME, or paste the block that
    `jupyssh tunnel ws-config` prints.
    """
    token = token_from_env(token_env)
    warning = cleartext_warning(parse_ws_target(url))
    if warning:
        click.echo(f"jupyssh: warning: {warning}", err=True)  # stderr: stdout is ssh's stream
    run_proxy(url, token=token, timeout=timeout)


@tunnel.command("ws-config")
@click.argument("alias")
@click.argument("url")
@click.option(
    "--token-env",
    default=DEFAULT_TOKEN_ENV,
    show_default=True,
    metavar="VAR",
    help="Environment variable the ProxyCommand reads the token from.",
)
@click.option("--user", default=None, help="User name on the server (the server's own user).")
@json_option
@verbosity_option
@pass_output
def ws_config(output: Output, *, alias: str, url: str, token_env: str, user: str | None) -> None:
    """Print the ssh config block that reaches the sshd WebSocket at URL as `ssh ALIAS`."""
    program = shutil.which("jupyssh") or "jupyssh"
    block = ssh_config_block(alias, url, token_env=token_env, user=user, program=program)
    data = {
        "alias": alias,
        "url": parse_ws_target(url).uri,
        "user": user,
        "token_env": token_env,
        "config": block,
    }
    output.emit(data, lambda _console: click.echo(block, nl=False))


@tunnel.group()
def reverse() -> None:
    """Persistent reverse tunnels (ssh -R) under systemd, or a pidfile without it."""


@reverse.command("add")
@click.argument("name")
@click.argument("alias", required=False)
@click.option("--via", default=None, metavar="ALIAS", hidden=True, help="Deprecated: ALIAS.")
@click.option("--remote-port", type=int, required=True, help="Port to open on the bastion.")
@click.option(
    "--to",
    "target",
    default="127.0.0.1:22",
    show_default=True,
    metavar="HOST:PORT",
    help="What the bastion's port reaches, as seen from this machine.",
)
@click.option(
    "--scope",
    type=click.Choice(["auto", "system", "user", "nohup"]),
    default="auto",
    show_default=True,
    help="system unit (root), user unit (linger), or nohup (pidfile, no systemd).",
)
@click.option(
    "--run-as", default=None, metavar="USER", help="System scope: the account ssh runs as."
)
@click.option("--user", "old_user", default=None, hidden=True, help="Deprecated: --run-as.")
@click.option(
    "--remote-bind",
    default="127.0.0.1",
    show_default=True,
    help="Address on the bastion (others than loopback need GatewayPorts there).",
)
@click.option(
    "--keepalive",
    type=int,
    default=15,
    show_default=True,
    help="Seconds between keepalives; a dead link is seen after three.",
)
@click.option("--no-autossh", is_flag=True, help="Run ssh itself under systemd's restarts.")
@click.option("--no-check", is_flag=True, help="Install without first opening the forward once.")
@ssh_config_option
@json_option
@verbosity_option
@pass_output
def reverse_add(
    output: Output,
    *,
    name: str,
    alias: str | None,
    via: str | None,
    remote_port: int,
    target: str,
    scope: str,
    run_as: str | None,
    old_user: str | None,
    remote_bind: str,
    keepalive: int,
    no_autossh: bool,
    no_check: bool,
    config_file: str | None,
) -> None:
    """Keep port --remote-port of the bastion ALIAS (an ssh alias) forwarded to --to on
    this machine, across reboots and network failures."""
    import asyncio  # noqa: PLC0415 - see the module's docstring

    from jupyssh.tunnel.reverse import add_tunnel  # noqa: PLC0415
    from jupyssh.tunnel.reverse.spec import parse_target  # noqa: PLC0415

    bastion = _positional_or_deprecated(
        alias, via, "--via", "jupyssh tunnel reverse add NAME ALIAS", "ALIAS"
    )
    if old_user is not None:
        run_as = _positional_or_deprecated(
            run_as, old_user, "--user", "jupyssh tunnel reverse add … --run-as USER", "--run-as"
        )
    spec = asyncio.run(
        add_tunnel(
            name,
            via=bastion,
            remote_port=remote_port,
            to=parse_target(target),
            scope=scope,  # type: ignore[arg-type]  # click.Choice guarantees the literal
            user=run_as,
            config_file=config_file,
            remote_bind=remote_bind,
            keepalive=keepalive,
            use_autossh=not no_autossh,
            check=not no_check,
        )
    )
    data = json.loads(spec.to_json())

    def render(console: Console) -> None:
        how = "autossh" if spec.autossh_program else "ssh"
        console.print(
            f"reverse tunnel {spec.name}: {spec.via} port {spec.remote_port} → "
            f"{spec.to_host}:{spec.to_port} ({spec.scope} scope, {how})"
        )
        console.print(f"check it with: jupyssh tunnel reverse status {spec.name}")

    output.emit(data, render)


def _positional_or_deprecated(
    value: str | None, old_value: str | None, old_option: str, usage: str, what: str
) -> str:
    """``value``, or the deprecated ``old_option``'s ``old_value`` with one line saying so."""
    if old_value is not None:
        click.echo(f"jupyssh: {old_option} is deprecated; use: {usage}", err=True)
        if value is not None and value != old_value:
            raise click.UsageError(f"{what} and {old_option} disagree; give {what} only")
        value = old_value
    if value is None:
        raise click.UsageError(f"missing {what}: {usage}")
    return value


@reverse.command("list")
@json_option
@verbosity_option
@pass_output
def reverse_list(output: Output) -> None:
    """The reverse tunnels recorded here (no probe: see status)."""
    from jupyssh.tunnel.reverse import list_tunnels  # noqa: PLC0415 - see the module's docstring

    specs = list_tunnels()

    def render(console: Console) -> None:
        if not specs:
            console.print("no reverse tunnels")
        for spec in specs:
            console.print(
                f"{spec.name}\t{spec.scope}\t{spec.via}:{spec.remote_port} → "
                f"{spec.to_host}:{spec.to_port}"
            )

    output.emit([json.loads(spec.to_json()) for spec in specs], render)


@reverse.command("status")
@click.argument("name", required=False)
@click.option("--no-probe", is_flag=True, help="Only the process; do not connect to the bastion.")
@json_option
@verbosity_option
@pass_output
def reverse_status(output: Output, *, name: str | None, no_probe: bool) -> None:
    """Whether each tunnel (or NAME) runs and its port answers on the bastion.

    Exit status 1 when one is down.
    """
    import asyncio  # noqa: PLC0415 - see the module's docstring

    from jupyssh.tunnel.reverse import list_tunnels, tunnel_status  # noqa: PLC0415

    names = [name] if name else [spec.name for spec in list_tunnels()]
    statuses = [asyncio.run(tunnel_status(n, probe=not no_probe)) for n in names]

    def render(console: Console) -> None:
        for status in statuses:
            forward = {True: "answers", False: "does not answer", None: "not probed"}
            console.print(
                f"{status.spec.name}: {status.state} (pid {status.pid or '-'}); port "
                f"{status.spec.remote_port} on {status.spec.via} "
                f"{forward[status.forward_alive]}" + (f": {status.detail}" if status.detail else "")
            )

    output.emit([status.to_dict() for status in statuses], render)
    down = [s for s in statuses if not s.process_alive or s.forward_alive is False]
    click.get_current_context().exit(1 if down else 0)


@reverse.command("logs")
@click.argument("name")
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="How many lines.")
@json_option
@verbosity_option
@pass_output
def reverse_logs(output: Output, *, name: str, lines: int) -> None:
    """What the tunnel's ssh printed lately (the journal, or the nohup log)."""
    import asyncio  # noqa: PLC0415 - see the module's docstring

    from jupyssh.tunnel.reverse import tunnel_logs  # noqa: PLC0415

    text = asyncio.run(tunnel_logs(name, lines=lines))
    output.emit({"name": name, "lines": text.splitlines()}, lambda _c: click.echo(text))


@reverse.command("remove")
@click.argument("name")
@json_option
@verbosity_option
@pass_output
def reverse_remove(output: Output, *, name: str) -> None:
    """Stop NAME and remove what jupyssh created for it (unit or pidfile, and record)."""
    import asyncio  # noqa: PLC0415 - see the module's docstring

    from jupyssh.tunnel.reverse import remove_tunnel  # noqa: PLC0415

    spec = asyncio.run(remove_tunnel(name))
    output.emit(
        {"name": spec.name, "scope": spec.scope, "removed": True},
        lambda console: console.print(f"removed reverse tunnel {spec.name} ({spec.scope} scope)"),
    )
