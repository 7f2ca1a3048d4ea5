"""``jupyssh mcp …``: serve the toolkit to an agent (stdio, or HTTP on 127.0.0.1 with a
token), list the tools it gets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.errors import ConfigError
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.mcp.audit import remember_secret
from jupyssh.mcp.http import TOKEN_ENV, read_token, serve_http
from jupyssh.mcp.server import build_server, serving
from jupyssh.mcp.settings import Settings, load_settings

__all__ = ["mcp"]

_settings_option = click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="MCP settings file (allowlist, read_only, ...); default: mcp.json in the config folder.",
)
_read_only_option = click.option(
    "--read-only", is_flag=True, help="Refuse every tool that can change things on a host."
)


@click.group()
def mcp() -> None:
    """The jupyssh toolkit as Model Context Protocol tools for agents."""


def _settings(settings_file: Path | None, config_file: str | None, read_only: bool) -> Settings:
    settings = load_settings(settings_file).with_read_only(read_only)
    if config_file is not None:
        settings = dataclasses.replace(settings, ssh_config=config_file)
    return settings


@mcp.command()
@_settings_option
@_read_only_option
@ssh_config_option
@click.option(
    "--http",
    "http_port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="Serve streamable HTTP on 127.0.0.1:PORT (0: a free one) instead of stdio.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"With --http: the file (mode 600) holding the bearer token; else ${TOKEN_ENV}.",
)
@verbosity_option
def serve(
    settings_file: Path | None,
    read_only: bool,
    config_file: str | None,
    http_port: int | None,
    token_file: Path | None,
) -> None:
    """Serve the tools over stdio (the agent's client starts this command), or with
    --http over streamable HTTP on 127.0.0.1, every request with the bearer token.

    Only the ssh aliases the settings' allowlist names are reachable; every call is
    logged, with its arguments, to the audit log.
    """
    settings = _settings(settings_file, config_file, read_only)
    if token_file is not None and http_port is None:
        raise ConfigError("--token-file goes with --http")
    token = read_token(token_file) if http_port is not None else None
    remember_secret(token)

    async def run() -> None:
        # SIGTERM (a client stopping its server) ends the serving like a closed stdin
        # does: running tasks cancelled, kernels shut down, the masters it started stopped.
        main = asyncio.current_task()
        assert main is not None  # noqa: S101 - asyncio.run runs this as a task
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            async with serving(settings) as (server, _services):
                if http_port is None or token is None:
                    await server.run_stdio_async()
                else:
                    await serve_http(server, port=http_port, token=token)

    asyncio.run(run())


@mcp.command()
@_settings_option
@_read_only_option
@ssh_config_option
@json_option
@verbosity_option
@pass_output
def tools(
    output: Output, settings_file: Path | None, read_only: bool, config_file: str | None
) -> None:
    """List the tools the installed packages give an agent."""
    settings = _settings(settings_file, config_file, read_only)
    server, _services = build_server(settings)
    listed = asyncio.run(server.list_tools())
    data: list[dict[str, Any]] = [
        {
            "name": tool.name,
            "read_only": bool(tool.annotations and tool.annotations.read_only_hint),
            "description": (tool.description or "").split("\n")[0],
        }
        for tool in listed
    ]

    def show(console: Console) -> None:
        table = Table(title="MCP tools", title_justify="left")
        for column in ("tool", "read-only", "what it does"):
            table.add_column(column)
        for row in data:
            table.add_row(row["name"], "yes" if row["read_only"] else "no", row["description"])
        console.print(table)

    output.emit({"tools": data, "allow": sorted(settings.allow)}, show)
