"""``jupyssh bridge serve``: an SSH server whose shells and commands run in Jupyter kernels."""

from __future__ import annotations

from typing import Any

import click

from jupyssh.bridge.forwarding import (
    FORWARDING_CHOICES,
    Forwarding,
    ForwardingPolicy,
    Permit,
    parse_permits,
)
from jupyssh.bridge.reader import READER_CHOICES, ReaderChoice
from jupyssh.bridge.server import (
    BACKENDS,
    MAX_CHANNELS,
    Backend,
    BridgeConfig,
    BridgeServer,
    sftp_available,
)
from jupyssh.core.cli import verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.core.server.options import announce, connect_jupyter, server_options

__all__ = ["bridge"]


@click.group()
def bridge() -> None:
    """SSH into a Jupyter server that has no SSH port: shells and commands run in a kernel."""


@bridge.command()
@server_options(default_port=2222, max_channels=MAX_CHANNELS)
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
    "--reader",
    type=click.Choice(READER_CHOICES),
    default="auto",
    show_default=True,
    help="The PTY and pipe reader the kernels run: auto (the compiled one where the kernel "
    "can load it), compiled (required), pure. JUPYSSH_NO_EXTENSIONS=1 means pure.",
)
@click.option(
    "--forwarding",
    type=click.Choice(FORWARDING_CHOICES),
    default="all",
    show_default=True,
    help="Port forwards allowed, as sshd's AllowTcpForwarding: local (ssh -L, -W, -D), "
    "remote (ssh -R), all, none. Forwarded sockets open on the Jupyter host.",
)
@click.option(
    "--permit-open",
    multiple=True,
    metavar="HOST:PORT",
    help="Where local forwards may connect, as sshd's PermitOpen (* for any host or port; "
    "'any', 'none'). Repeatable. Default: any.",
)
@click.option(
    "--permit-listen",
    multiple=True,
    metavar="[HOST:]PORT",
    help="Where remote forwards may listen, as sshd's PermitListen (host wildcards, * for "
    "any port; 'any', 'none'). Repeatable. Default: any.",
)
@click.option(
    "--gateway-ports",
    is_flag=True,
    help="Let remote forwards bind the address the client asks for (sshd's GatewayPorts "
    "clientspecified); without it they bind the Jupyter host's loopback.",
)
@json_option
@verbosity_option
@pass_output
def serve(
    output: Output,
    *,
    jupyter_url: str,
    server_config: ServerConfig,
    kernel_name: str | None,
    warm: int,
    backend: Backend,
    reader: ReaderChoice,
    forwarding: Forwarding,
    permit_open: tuple[str, ...],
    permit_listen: tuple[str, ...],
    gateway_ports: bool,
) -> None:
    """Serve SSH until interrupted (Ctrl-C, SIGTERM).

    Each connection gets its own kernel, deleted when the connection ends. `ssh host cmd`
    runs CMD on pipes (stdout, stderr and the exit status as with sshd); `ssh host` and
    `ssh -t` get a shell on a PTY (with --backend terminals: a Jupyter terminal). Port
    forwards (ssh -L, -W, -D, -R) connect and listen on the Jupyter host, as --forwarding
    and the permit options allow. No agent or X11 forwarding.

    The Jupyter token comes from $JUPYTER_TOKEN (or a prompt). The server, the token and
    the kernel spec are checked before anything listens.
    """
    policy = ForwardingPolicy(
        forwarding,
        permit_open=_permits(permit_open, "--permit-open", listen=False),
        permit_listen=_permits(permit_listen, "--permit-listen", listen=True),
        gateway_ports=gateway_ports,
    )
    client, jupyter = connect_jupyter(jupyter_url, kernel_name=kernel_name, kernels=True)
    config = BridgeConfig(
        kernel_name=kernel_name, warm=warm, backend=backend, reader=reader, forwarding=policy
    )
    server = BridgeServer(client, server_config, config)
    with server:
        bound_host, bound_port = server.address
        facts: dict[str, Any] = {
            "listen": f"{bound_host}:{bound_port}",
            "jupyter": client.base_url,
            "jupyter_server_version": jupyter.version,
            "kernel": kernel_name or jupyter.default_kernel,
            "host_key_fingerprint": server.host_key_fingerprint(),
            "known_hosts": server.known_hosts_line(),
            "reader": server.reader,
            "sftp": sftp_available(),
            "warm": warm,
            "backend": backend,
            "forwarding": forwarding,
        }
        output.emit(
            facts,
            lambda _console: announce(
                "jupyssh-bridge",
                facts,
                f"kernel reader: {facts['reader']} (each kernel's is logged with -v); "
                f"sftp subsystem: {facts['sftp']}; "
                f"shells: {facts['backend']} backend; kernel: {facts['kernel']}; "
                f"forwarding: {facts['forwarding']}",
            ),
        )
        server.serve_forever(handle_signals=True)


def _permits(specs: tuple[str, ...], option: str, *, listen: bool) -> tuple[Permit, ...] | None:
    try:
        return parse_permits(specs, listen=listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc
