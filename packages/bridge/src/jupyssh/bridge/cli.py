"""``jupyssh bridge serve``: an SSH server whose shells and commands run in Jupyter kernels."""

from __future__ import annotations

from typing import Any

import click

from jupyssh.bridge.reader import READER_CHOICES, ReaderChoice
from jupyssh.bridge.server import BACKENDS, Backend, BridgeConfig, BridgeServer, sftp_available
from jupyssh.core.cli import verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.core.server.options import announce, connect_jupyter, server_options

__all__ = ["bridge"]


@click.group()
def bridge() -> None:
    """SSH into a Jupyter server that has no SSH port: shells and commands run in a kernel."""


@bridge.command()
@server_options(default_port=2222)
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
) -> None:
    """Serve SSH until interrupted (Ctrl-C, SIGTERM).

    Each connection gets its own kernel, deleted when the connection ends. `ssh host cmd`
    runs CMD on pipes (stdout, stderr and the exit status as with sshd); `ssh host` and
    `ssh -t` get a shell on a PTY (with --backend terminals: a Jupyter terminal). No port,
    agent or X11 forwarding.

    The Jupyter token comes from $JUPYTER_TOKEN (or a prompt). The server, the token and
    the kernel spec are checked before anything listens.
    """
    client, jupyter = connect_jupyter(jupyter_url, kernel_name=kernel_name, kernels=True)
    config = BridgeConfig(kernel_name=kernel_name, warm=warm, backend=backend, reader=reader)
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
        }
        output.emit(
            facts,
            lambda _console: announce(
                "jupyssh-bridge",
                facts,
                f"kernel reader: {facts['reader']} (each kernel's is logged with -v); "
                f"sftp subsystem: {facts['sftp']}; "
                f"shells: {facts['backend']} backend; kernel: {facts['kernel']}",
            ),
        )
        server.serve_forever(handle_signals=True)
