"""``jupyssh sftp serve``: serve a Jupyter server's files over SFTP."""

from __future__ import annotations

from typing import Any

import click

from jupyssh.core.cli import verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.core.server.options import announce, connect_jupyter, server_options
from jupyssh.sftp.limits import DEFAULT_BUFFER_BUDGET, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_HANDLES
from jupyssh.sftp.service import SFTPOptions, SFTPService
from jupyssh.sftp.standalone import SFTPOnlyServer

__all__ = ["parse_size", "sftp"]

_MiB = 1024 * 1024
_UNITS = {"": 1, "K": 1024, "M": _MiB, "G": 1024 * _MiB, "T": 1024 * 1024 * _MiB}


def parse_size(text: str) -> int:
    """A number of bytes with an optional binary unit: ``512K``, ``32M``, ``16G``, ``1GiB``."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    if not number.isdigit():
        raise click.BadParameter(
            f"{text!r} is not a size (a whole number, optionally K, M, G or T)"
        )
    return int(number) * _UNITS[unit]


def _size_option(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    return parse_size(value)


def _size(number: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if number % _UNITS[unit] == 0:
            return f"{number // _UNITS[unit]}{unit}"
    return str(number)


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
@click.option(
    "--max-handles",
    type=click.IntRange(1, 4096),
    default=DEFAULT_MAX_HANDLES,
    show_default=True,
    help="Open files and folders per session (advertised to clients); one more open fails.",
)
@click.option(
    "--buffer-budget",
    metavar="SIZE",
    callback=_size_option,
    default=_size(DEFAULT_BUFFER_BUDGET),
    show_default=True,
    help="Memory for read-ahead and upload buffers, all sessions together; past it, "
    "transfers slow down instead of failing.",
)
@click.option(
    "--max-file-size",
    metavar="SIZE",
    callback=_size_option,
    default=_size(DEFAULT_MAX_FILE_SIZE),
    show_default=True,
    help="The largest file a write or a size change may make; beyond it the request fails "
    "and nothing is written.",
)
@click.option(
    "--spill-budget",
    metavar="SIZE",
    callback=_size_option,
    default=_size(DEFAULT_MAX_FILE_SIZE),
    show_default=True,
    help="Local temporary files of out-of-order writes, all sessions together; a write "
    "that needs more fails.",
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
    max_handles: int,
    buffer_budget: int,
    max_file_size: int,
    spill_budget: int,
) -> None:
    """Serve the Jupyter server's files over SFTP until interrupted (Ctrl-C, SIGTERM).

    The SFTP root / is the Jupyter server's root. Only the sftp subsystem is offered
    (scp works in its default SFTP mode; `scp -O` does not).

    The Jupyter token comes from $JUPYTER_TOKEN (or a prompt). The server and the token
    are checked before anything listens.
    """
    options = SFTPOptions(
        chunk_size=chunk_size * _MiB,
        max_handles=max_handles,
        buffer_budget=buffer_budget,
        max_file_size=max_file_size,
        spill_budget=spill_budget,
    )
    client, jupyter = connect_jupyter(jupyter_url)
    with (
        SFTPService(client, options) as service,
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
