"""``jupyssh sftp serve``: serve a Jupyter server's files over SFTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jupyssh.core.cli import verbosity_option
from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.server import ServerConfig
from jupyssh.sftp.service import SFTPOptions, SFTPService
from jupyssh.sftp.standalone import SFTPOnlyServer

__all__ = ["parse_listen", "sftp"]

_MiB = 1024 * 1024


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on 127.0.0.1) into (host, port)."""
    text = value.strip()
    host, port_text = "127.0.0.1", text
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConfigError(f"cannot read listen address {value!r}", hint="use [::1]:2022")
        host, port_text = inner, rest[1:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"cannot read listen address {value!r}", hint="use HOST:PORT, e.g. 127.0.0.1:2022"
        )
    return host or "127.0.0.1", int(port_text)


@click.group()
def sftp() -> None:
    """Serve a Jupyter server's files over SFTP (sftp, scp, editors)."""


@sftp.command()
@click.option(
    "--jupyter-url",
    required=True,
    help="The Jupyter server, e.g. http://127.0.0.1:8888/?token=… (the token may instead "
    "come from $JUPYTER_TOKEN, or a prompt).",
)
@click.option(
    "--listen",
    default="127.0.0.1:2022",
    show_default=True,
    help="Address to listen on, HOST:PORT (port 0 picks a free one).",
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
    "--allow-non-loopback",
    is_flag=True,
    help="Allow a listen address other machines can reach.",
)
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
    listen: str,
    authorized_keys: Path | None,
    host_key: Path | None,
    allow_non_loopback: bool,
    chunk_size: int,
) -> None:
    """Serve the Jupyter server's files over SFTP until interrupted (Ctrl-C, SIGTERM).

    The SFTP root / is the Jupyter server's root. Only the sftp subsystem is offered
    (scp works in its default SFTP mode; `scp -O` does not).
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
    with SFTPService(client, SFTPOptions(chunk_size=chunk_size * _MiB)) as service:
        # the raw error (auth, unreachable) with its hint, not an SFTP status
        version = service.submit(client.version()).result(client.timeout + 5)
        with SFTPOnlyServer(service, config) as server:
            bound_host, bound_port = server.address
            facts: dict[str, Any] = {
                "listen": f"{bound_host}:{bound_port}",
                "jupyter": client.base_url,
                "jupyter_server_version": version,
                "host_key_fingerprint": server.host_key_fingerprint(),
                "known_hosts": server.known_hosts_line(),
            }
            output.emit(facts, lambda _console: _announce(facts))
            server.serve_forever(handle_signals=True)


def _announce(facts: dict[str, Any]) -> None:
    click.echo(f"jupyssh-sftp serving {facts['jupyter']} on {facts['listen']}")
    click.echo(f"host key {facts['host_key_fingerprint']}")
    click.echo(f"known_hosts: {facts['known_hosts']}")
