"""``jupyssh kernel …``: add, list, show, edit and remove ssh kernelspecs; launch one.

Every option of add and edit is derived from the provisioner's traits
(:mod:`jupyssh.kernel.options`); none is restated here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.errors import ConfigError, JupysshError
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.kernel.errors import RemoteKernelSpecMissingError
from jupyssh.kernel.options import click_options, option
from jupyssh.kernel.specs import (
    RemoteSpecs,
    SpecOptions,
    edit_spec,
    install_spec,
    list_specs,
    load_options,
    probe_host,
    remove_spec,
)
from jupyssh.kernel.standalone import StandaloneRequest, run_standalone
from jupyssh.sshconfig.checker import check

__all__ = ["kernel"]


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave (click leaves the others None)."""
    return {key: value for key, value in values.items() if value is not None}


def _deprecated(old: str, use: str) -> None:
    click.echo(f"jupyssh: {old} is deprecated; use: {use}", err=True)


def _positional(value: str | None, old_value: str | None, *, old: str, use: str, param: str) -> str:
    """A positional argument that used to be an option: the option still works, with one
    deprecation line; giving neither is a usage error, giving both two different ones too."""
    if old_value is not None:
        _deprecated(old, use)
        if value is not None and value != old_value:
            raise click.UsageError(f"{param} given twice: {value!r} and {old} {old_value!r}")
        return old_value
    if value is None:
        raise click.UsageError(f"Missing argument '{param}'.")
    return value


@click.group()
def kernel() -> None:
    """Jupyter kernels that run on an ssh host, as if they were local."""


@kernel.command()
@click.argument("name")
@click.argument("alias", required=False)
@click.option("--host", "old_host", hidden=True, help="Deprecated: the ALIAS argument.")
@ssh_config_option
@click_options()
@click.option("--no-check", is_flag=True, help="Write the spec without checking the host.")
@click.option("--replace", is_flag=True, help="Replace a kernelspec of the same name.")
@json_option
@verbosity_option
@pass_output
def add(
    output: Output,
    /,
    *,
    name: str,
    alias: str | None,
    old_host: str | None,
    config_file: str | None,
    no_check: bool,
    replace: bool,
    **values: Any,
) -> None:
    """Add kernelspec NAME whose kernel runs on the ssh host ALIAS.

    Unless --no-check, the alias is validated for the kernel role (jupyssh-sshconfig) and
    the host is asked, in one ssh session, for its python and kernelspecs. kernel.json
    gets the options given; the others keep their defaults (shown here).
    """
    host = _positional(
        alias, old_host, old="--host", use="jupyssh kernel add NAME ALIAS", param="ALIAS"
    )
    options = SpecOptions(name, host=host, ssh_config=config_file, **_given(values))
    options.validate()
    if not no_check:
        _check_alias(options, output)
        remote = _check_host(options, output)
        found = remote.specs[str(options.value("remote_kernel")).lower()]
        if not values.get("display_name"):
            shown = found.get("display_name", options.value("remote_kernel"))
            options = options.changed(
                {
                    "display_name": f"{shown} on {host}",
                    "language": found.get("language") or options.language,
                }
            )
    folder = install_spec(options, replace_existing=replace)
    output.emit(
        {"name": name, "resource_dir": str(folder), "options": options.to_dict()},
        lambda console: console.print(f"added kernel [bold]{name}[/bold] ({folder})"),
    )


def _check_alias(options: SpecOptions, output: Output) -> None:
    output.step(f"checking ssh alias {options.host} for the kernel role")
    report = check(options.host, "kernel", False, options.ssh_config)
    if not report.ok:
        first = report.errors[0]
        raise ConfigError(
            f"ssh alias {options.host} cannot carry a kernel: {first.code} {first.message}",
            where=options.ssh_config or "~/.ssh/config",
            hint=(first.fix or "")
            + f" (`jupyssh sshconfig check {options.host} --role kernel` lists all findings)",
        )


def _check_host(options: SpecOptions, output: Output) -> RemoteSpecs:
    output.step(f"asking {options.host} for its python and kernelspecs")
    remote = probe_host(options)
    remote_kernel = str(options.value("remote_kernel"))
    if remote_kernel.lower() not in remote.specs:
        raise RemoteKernelSpecMissingError(
            f"no kernelspec {remote_kernel!r} on the host "
            f"(found: {', '.join(sorted(remote.specs))})",
            where=options.host,
            hint="pass one of those with --remote-kernel",
        )
    return remote


@kernel.command(name="remote")
@click.argument("alias")
@ssh_config_option
@click_options(keys=("remote_python", "env_setup", "ssh_program"))
@json_option
@verbosity_option
@pass_output
def remote_specs(output: Output, /, *, alias: str, config_file: str | None, **values: Any) -> None:
    """List the kernelspecs of ssh host ALIAS (to pick --remote-kernel from), and its
    Slurm partitions with their limits when Slurm is there (to pick --partition from)."""
    options = SpecOptions("probe", host=alias, ssh_config=config_file, **_given(values))
    remote = probe_host(options)

    def render(console: Console) -> None:
        console.print(f"{alias}: python {remote.python} ({remote.executable})")
        table = Table("name", "display name", "language", "interrupt")
        for name, spec in sorted(remote.specs.items()):
            table.add_row(
                name,
                str(spec.get("display_name", "")),
                str(spec.get("language", "")),
                str(spec.get("interrupt_mode", "")),
            )
        console.print(table)
        if remote.partitions:
            console.print(f"Slurm partitions on {alias} (for --partition):")
            console.print(_partition_table(remote.partitions))

    output.emit(remote.to_dict(), render)


def _partition_table(partitions: list[dict[str, str]]) -> Table:
    table = Table(
        "partition", "state", "time limit", "nodes", "cpus/node", "memory/node", "gres",
        caption="* the cluster's default partition",
    )  # fmt: skip
    for row in partitions:
        memory = row.get("memory_mb", "")
        table.add_row(
            row.get("name", ""),  # sinfo marks the default partition with a *
            row.get("state", ""),
            row.get("time_limit", ""),
            row.get("nodes", ""),
            row.get("cpus", ""),
            f"{memory} MB" if memory.isdigit() else memory,
            row.get("gres", "") if row.get("gres") != "(null)" else "",
        )
    return table


@kernel.command(name="list")
@click.argument("names", nargs=-1)
@click.option("--no-check", is_flag=True, help="Do not check the ssh kernels' hosts.")
@json_option
@verbosity_option
@pass_output
def list_command(output: Output, *, names: tuple[str, ...], no_check: bool) -> None:
    """List local and ssh kernelspecs; ssh ones with their alias and host checks."""
    rows = [row for row in list_specs() if not names or row["name"] in names]
    for row in rows:
        if row["ssh"] and not no_check:
            row["check"] = _row_check(load_options(row["name"])[1])

    def render(console: Console) -> None:
        table = Table("name", "kind", "host", "remote kernel", "check", "display name")
        for row in rows:
            opts = row.get("options", {})
            check = row.get("check")
            status = "-" if check is None else ("ok" if check["ok"] else check["error"])
            table.add_row(
                row["name"],
                "ssh" if row["ssh"] else "local",
                opts.get("host", ""),
                opts.get("remote_kernel", ""),
                status,
                row["display_name"],
            )
        console.print(table)

    output.emit(rows, render)
    if any(row.get("check") and not row["check"]["ok"] for row in rows):
        click.get_current_context().exit(1)


def _row_check(options: SpecOptions) -> dict[str, Any]:
    try:
        _check_alias(options, Output(json=True))
        remote = _check_host(options, Output(json=True))
    except JupysshError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "python": remote.python}


@kernel.command()
@click.argument("name")
@json_option
@verbosity_option
@pass_output
def show(output: Output, *, name: str) -> None:
    """Show a jupyssh kernelspec's options and where it lives."""
    folder, options = load_options(name)

    def render(console: Console) -> None:
        console.print(f"[bold]{name}[/bold] ({folder})")
        for key, value in options.to_dict().items():
            console.print(f"  {key}: {value!r}")

    output.emit({"name": name, "resource_dir": str(folder), "options": options.to_dict()}, render)


@kernel.command()
@click.argument("name")
@option("host").click_option(show_default=False)
@ssh_config_option
@click_options(show_default=False)
@json_option
@verbosity_option
@pass_output
def edit(output: Output, /, *, name: str, config_file: str | None, **values: Any) -> None:
    """Change options of jupyssh kernelspec NAME: those given; every other key of its
    kernel.json stays as it is."""
    changes = _given({**values, "ssh_config": config_file})
    folder, options = edit_spec(name, changes)
    output.emit(
        {"name": name, "resource_dir": str(folder), "options": options.to_dict()},
        lambda console: console.print(f"changed {', '.join(sorted(changes)) or 'nothing'}"),
    )


def _remove(output: Output, name: str) -> None:
    folder = remove_spec(name)
    output.emit(
        {"name": name, "removed": str(folder)},
        lambda console: console.print(f"removed kernel {name} ({folder})"),
    )


@kernel.command()
@click.argument("name")
@json_option
@verbosity_option
@pass_output
def remove(output: Output, *, name: str) -> None:
    """Remove jupyssh kernelspec NAME (other kernelspecs are refused)."""
    _remove(output, name)


@kernel.command(hidden=True)
@click.argument("name")
@json_option
@verbosity_option
@pass_output
def delete(output: Output, *, name: str) -> None:
    """Deprecated: `jupyssh kernel remove NAME`."""
    _deprecated("kernel delete", "jupyssh kernel remove NAME")
    _remove(output, name)


@kernel.command(name="launch")
@click.argument("name", required=False)
@click.option("--kernel", "old_kernel", hidden=True, help="Deprecated: the NAME argument.")
@click.option(
    "--connection-file",
    help="Use (or write) this connection file: its ports and key are kept.",
)
@click_options(keys=("persistent",), show_default=False)
@option("existing").click_option(show_default=False)
@click.option("--leave", is_flag=True, help="Start, then leave the kernel running at once.")
@click.option("--state-file", help="Where --leave (or SIGQUIT) writes the state file.")
@json_option
@verbosity_option
@pass_output
def launch_command(
    output: Output,
    /,
    *,
    name: str | None,
    old_kernel: str | None,
    connection_file: str | None,
    persistent: bool | None,
    existing: str | None,
    leave: bool,
    state_file: str | None,
) -> None:
    """Run jupyssh kernel NAME until a signal: SIGINT interrupts, SIGUSR1 restarts,
    SIGTERM/SIGHUP shut down (leave if persistent), SIGUSR2 shuts down, SIGQUIT leaves.

    When the kernel is left running, its state file is printed (for --existing)."""
    kernel_name = _positional(
        name, old_kernel, old="--kernel", use="jupyssh kernel launch NAME", param="NAME"
    )
    request = StandaloneRequest(
        kernel=kernel_name,
        connection_file=connection_file,
        persistent=persistent,
        existing=existing,
        leave=leave,
        state_file=state_file,
    )
    path = asyncio.run(run_standalone(request))
    output.emit(
        {"name": kernel_name, "state_file": str(path) if path else None},
        lambda console: print(path, flush=True) if path else None,
    )
