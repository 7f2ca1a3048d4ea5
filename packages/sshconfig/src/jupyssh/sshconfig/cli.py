"""``jupyssh sshconfig …``: check an alias for a role, suggest a dedicated block, list rules."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.errors import ConfigError
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.sshconfig.checker import check as run_check
from jupyssh.sshconfig.findings import Role
from jupyssh.sshconfig.render import print_report
from jupyssh.sshconfig.rules import RULES
from jupyssh.sshconfig.suggest import Suggestion, suggest_async, write_block

__all__ = ["sshconfig"]

_ROLES = click.Choice([role.value for role in Role])


@click.group()
def sshconfig() -> None:
    """Tell why an ssh alias will or will not carry a remote kernel or tunnel."""


@sshconfig.command()
@click.argument("alias")
@ssh_config_option
@click.option(
    "--role",
    type=_ROLES,
    default=Role.CLIENT.value,
    show_default=True,
    help="What the alias is for: kernel (shared master), tunnel (persistent), client.",
)
@click.option("--connect", is_flag=True, help="Also log in to each hop for real, in BatchMode.")
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds each hop may take to answer with --connect.",
)
@json_option
@verbosity_option
@pass_output
def check(
    output: Output,
    *,
    alias: str,
    config_file: str | None,
    role: str,
    connect: bool,
    timeout: float,
) -> None:
    """Check ALIAS hop by hop (ProxyJump) and report every finding with its rule code.

    Exit status 1 when any finding is an error, 0 otherwise.
    """
    report = run_check(alias, role, connect, config_file, connect_timeout=timeout)
    output.emit(
        report.to_dict(),
        lambda console: print_report(report, console, show_ok=output.verbosity >= 1),
    )
    click.get_current_context().exit(report.exit_status)


def _show_suggestion(console: Console, suggestion: Suggestion, written: str | None) -> None:
    click.echo(suggestion.text, nl=False)
    for override in suggestion.overrides:
        place = f" (set at {override.where})" if override.where else ""
        console.print(
            f"[yellow]![/yellow] {override.keyword}: ssh would use {override.actual!r}"
            f"{place}, not {override.wanted!r}: an earlier line wins; put this block above it"
        )
    if written:
        console.print(written)


@sshconfig.command()
@click.argument("alias")
@ssh_config_option
@click.option(
    "--role", type=_ROLES, default=Role.KERNEL.value, show_default=True, help="The role to suit."
)
@click.option(
    "--name",
    default=None,
    help="Host name of the new block, one plain name (no pattern) [default: ALIAS-ROLE].",
)
@click.option(
    "--write",
    is_flag=True,
    help="Append the block to the config (after a timestamped backup; no line is changed).",
)
@click.option(
    "--force", is_flag=True, help="With --write: append even if earlier lines override it."
)
@json_option
@verbosity_option
@pass_output
def suggest(
    output: Output,
    *,
    alias: str,
    config_file: str | None,
    role: str,
    name: str | None,
    write: bool,
    force: bool,
) -> None:
    """Print a recommended dedicated Host block for ALIAS and a role (--write appends it)."""
    suggestion = asyncio.run(suggest_async(alias, role, config_file, name=name))
    written = None
    data: dict[str, Any] = {"suggestion": suggestion.to_dict(), "written": None}
    if write:
        if suggestion.overrides and not force:
            names = ", ".join(o.keyword for o in suggestion.overrides)
            raise ConfigError(
                f"earlier lines of the config override {names} for {suggestion.name}",
                where=config_file or "~/.ssh/config",
                hint="add the block above those lines by hand, or pass --force",
            )
        result = write_block(suggestion, config_file)
        data["written"] = result.to_dict()
        backup = f" (backup: {result.backup})" if result.backup else ""
        written = f"appended Host {suggestion.name} to {result.path}{backup}"
    output.emit(data, lambda console: _show_suggestion(console, suggestion, written))


@sshconfig.command(name="rules")
@json_option
@verbosity_option
@pass_output
def rules_command(output: Output) -> None:
    """List every rule code, its name, family and roles."""
    rows: list[dict[str, Any]] = [
        {
            "code": rule.code,
            "name": rule.name,
            "family": rule.family,
            "roles": sorted(role.value for role in rule.roles),
            "title": rule.title,
        }
        for rule in sorted(RULES.values(), key=lambda r: r.code)
    ]

    def render(console: Console) -> None:
        table = Table(title="jupyssh-sshconfig rules", title_justify="left")
        for column in ("code", "name", "roles", "checks that"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["code"], row["name"], ",".join(row["roles"]), row["title"])
        console.print(table)

    output.emit(rows, render)
