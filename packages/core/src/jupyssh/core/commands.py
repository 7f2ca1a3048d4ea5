"""``jupyssh host …``: the core's own commands, thin wrappers over :mod:`jupyssh.core.ssh`.

They show what jupyssh sees of an ssh alias and let a user try a remote command or a
control master by hand, with the same typed errors every other package reports.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.core.ssh import Hop, SSHHost

__all__ = ["host"]


@click.group()
def host() -> None:
    """Resolve ssh aliases, run remote commands and manage control masters."""


@host.command()
@click.argument("alias")
@ssh_config_option
@json_option
@verbosity_option
@pass_output
def resolve(output: Output, alias: str, config_file: str | None) -> None:
    """Show what `ssh -G` resolves ALIAS to, hop by hop through ProxyJump."""
    hops = SSHHost(alias, config_file=config_file).chain()
    output.emit([_hop_dict(hop) for hop in hops], lambda console: _render_hops(console, hops))


def _hop_dict(hop: Hop) -> dict[str, Any]:
    return {"spec": hop.spec, "via": [str(j) for j in hop.via], **hop.config.to_dict()}


def _render_hops(console: Console, hops: list[Hop]) -> None:
    table = Table(title="ssh route", title_justify="left")
    for column in ("hop", "destination", "connects to", "identity files", "control path"):
        table.add_column(column)
    for number, hop in enumerate(hops, start=1):
        config = hop.config
        target = f"{config.user or '?'}@{config.hostname}:{config.port}"
        if config.proxy_command:
            target += f"\n(ProxyCommand {config.proxy_command})"
        table.add_row(
            str(number),
            hop.spec,
            target,
            "\n".join(config.identity_files) or "-",
            config.control_path or "none",
        )
    console.print(table)


@host.command(context_settings={"ignore_unknown_options": True})
@click.argument("alias")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@ssh_config_option
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds before giving up."
)
@json_option
@verbosity_option
@pass_output
def run(
    output: Output, alias: str, command: tuple[str, ...], config_file: str | None, timeout: float
) -> None:
    """Run COMMAND on ALIAS (its words are quoted for the remote shell); exit with its status.

    Put `--` before a command that has options: `jupyssh host run lab -- ls -la`.
    """
    result = SSHHost(alias, config_file=config_file).run(command, timeout=timeout, check=False)
    data = {
        "returncode": result.returncode,
        "stdout": result.stdout_text,
        "stderr": result.stderr_text,
    }

    def show(_console: Console) -> None:
        sys.stdout.buffer.write(result.stdout)
        sys.stderr.buffer.write(result.stderr)

    output.emit(data, show)
    click.get_current_context().exit(result.returncode)


@host.command()
@click.argument("action", type=click.Choice(["check", "start", "stop"]))
@click.argument("alias")
@ssh_config_option
@json_option
@verbosity_option
@pass_output
def master(output: Output, action: str, alias: str, config_file: str | None) -> None:
    """Check, start or stop the control master jupyssh uses for ALIAS.

    A master started here lives on (ControlPersist) and is shared by every later jupyssh
    command for ALIAS; it is how password or one-time-code hosts are used: start it once,
    type the password, and jupyssh rides it.
    """
    ssh = SSHHost(alias, config_file=config_file, batch_mode=action != "start")
    if action == "start":
        ssh.aio.control_persist = "yes"
        pid: int | None = ssh.start_master()
    elif action == "stop":
        ssh.stop_master()
        pid = None
    else:
        pid = ssh.master_pid()
    data = {"alias": alias, "running": pid is not None, "pid": pid}
    output.emit(
        data,
        lambda console: console.print(
            f"control master for {alias}: " + (f"running (pid {pid})" if pid else "not running")
        ),
    )
    if action == "check" and pid is None:
        click.get_current_context().exit(1)
