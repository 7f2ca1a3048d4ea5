"""``jupyssh sftp serve``: serve a Jupyter server's files over SFTP."""

from __future__ import annotations

from typing import Any

import click

from jupyssh.core.cli import verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.core.server.options import announce, connect_jupyter, server_options
from jupyssh.sftp.service import SFTPOptions, SFTPService
from jupyssh.sftp.standalone import SFTPOnlyServer

__all__ = ["sftp"]

_MiB = 1024 * 1024


@click.group()
def sftp() -> None:
    """Serve a Jupyter server's files over SFTP (sftp, scp, editors)."""


@sftp.command()
@server_options(default_port=2022)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="MiB per upload request to the Jupyter server (lower it behind a proxy that "
    "limits request bodies).",
)
@json_option
@verbosity_option
@pass_output
def serve(
    output: Output,
    *,
    jupyter_url: str,
    server_config: ServerConfig,
    chunk_size: int,
) -> None:
    """Serve the Jupyter server's files over SFTP until interrupted (Ctrl-C, SIGTERM).

    The SFTP root / is the Jupyter server's root. Only the sftp subsystem is offered
    (scp works in its default SFTP mode; `scp -O` does not).

    The Jupyter token comes from $JUPYTER_TOKEN (or a prompt). The server and the token
    are checked before anything listens.
    """
    client, jupyter = connect_jupyter(jupyter_url)
    with (
        SFTPService(client, SFTPOptions(chunk_size=chunk_size * _MiB)) as service,
        SFTPOnlyServer(service, server_config) as server,
    ):
        bound_host, bound_port = server.address
        facts: dict[str, Any] = {
            "listen": f"{bound_host}:{bound_port}",
            "jupyter": client.base_url,
            "jupyter_server_version": jupyter.version,
            "host_key_fingerprint": server.host_key_fingerprint(),
            "known_hosts": server.known_hosts_line(),
        }
        output.emit(facts, lambda _console: announce("jupyssh-sftp", facts))
        server.serve_forever(handle_signals=True)
