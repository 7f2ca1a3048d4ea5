"""``jupyssh bridge serve``: an SSH server whose shells and commands run in Jupyter kernels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jupyssh.bridge.server import BACKENDS, Backend, BridgeConfig, BridgeServer, sftp_available
from jupyssh.core.cli import verbosity_option
from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig

__all__ = ["bridge", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (on 127.0.0.1) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {value!r}: the port must be a number 0-65535")
    return host, int(port)


@click.group()
def bridge() -> None:
    """SSH into a Jupyter server that has no SSH port: shells and commands run in a kernel."""


@bridge.command()
@click.option(
    "--jupyter-url",
    required=True,
    help="The Jupyter server (a token in the URL, $JUPYTER_TOKEN, or a prompt).",
)
@click.option(
    "--listen",
    default="127.0.0.1:2222",
    show_default=True,
    help="Address to listen on: HOST:PORT (port 0 picks a free one).",
)
@click.option(
    "--authorized-keys",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Public keys that may log in (default ~/.ssh/authorized_keys).",
)
@click.option(
    "--host-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="ed25519 host key file, created if missing (default: jupyssh's per-installation key).",
)
@click.option(
    "--kernel-name",
    default=None,
    help="Kernel spec to start for each connection (default: the server's default).",
)
@click.option(
    "--warm",
    type=click.IntRange(0, 32),
    default=0,
    show_default=True,
    help="Kernels kept started ahead, so a new connection does not wait for one.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="kernel",
    show_default=True,
    help="Where interactive shells (ssh with a PTY, no command) run: a PTY process in the "
    "connection's kernel, or a terminal of the server's terminals API. Commands always "
    "run in the kernel.",
)
@click.option(
    "--allow-non-loopback",
    is_flag=True,
    help="Allow a listen address other machines can reach.",
)
@json_option
@verbosity_option
@pass_output
def serve(
    output: Output,
    *,
    jupyter_url: str,
    listen: str,
    authorized_keys: Path | None,
    host_key: Path | None,
    kernel_name: str | None,
    warm: int,
    backend: Backend,
    allow_non_loopback: bool,
) -> None:
    """Serve SSH until interrupted (Ctrl-C, SIGTERM).

    Each connection gets its own kernel, deleted when the connection ends. `ssh host cmd`
    runs CMD on pipes (stdout, stderr and the exit status as with sshd); `ssh host` and
    `ssh -t` get a shell on a PTY (with --backend terminals: a Jupyter terminal). No port,
    agent or X11 forwarding.
    """
    host, port = parse_listen(listen)
    config = ServerConfig(
        host=host,
        port=port,
        allow_non_loopback=allow_non_loopback,
        host_key=host_key,
        authorized_keys=authorized_keys,
    )
    client = JupyterClient.from_url(jupyter_url)
    server = BridgeServer(
        client, config, BridgeConfig(kernel_name=kernel_name, warm=warm, backend=backend)
    )
    with server:
        bound_host, bound_port = server.address
        facts: dict[str, Any] = {
            "listen": f"{bound_host}:{bound_port}",
            "jupyter": client.base_url,
            "host_key_fingerprint": server.host_key_fingerprint(),
            "known_hosts": server.known_hosts_line(),
            "reader": server.reader,
            "sftp": sftp_available(),
            "warm": warm,
            "backend": backend,
        }
        output.emit(facts, lambda _console: _announce(facts))
        server.serve_forever(handle_signals=True)


def _announce(facts: dict[str, Any]) -> None:
    click.echo(f"jupyssh-bridge serving {facts['jupyter']} on {facts['listen']}", err=True)
    click.echo(f"host key {facts['host_key_fingerprint']}", err=True)
    click.echo(f"known_hosts: {facts['known_hosts']}", err=True)
    click.echo(
        f"kernel reader: {facts['reader']} (each kernel's is logged with -v); "
        f"sftp subsystem: {facts['sftp']}; "
        f"shells: {facts['backend']} backend",
        err=True,
    )
