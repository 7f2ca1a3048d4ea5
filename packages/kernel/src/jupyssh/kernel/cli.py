"""``jupyssh kernel …``: add, list, show, edit and delete ssh kernelspecs; launch one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from jupyssh.core.cli import ssh_config_option, verbosity_option
from jupyssh.core.errors import ConfigError, JupysshError
from jupyssh.core.output import Output, json_option, pass_output
from jupyssh.kernel.errors import RemoteKernelSpecMissing
from jupyssh.kernel.launch import LaunchRequest, launch
from jupyssh.kernel.specs import (
    RemoteSpecs,
    SpecOptions,
    delete_spec,
    edit_spec,
    install_spec,
    list_specs,
    load_options,
    probe_host,
)
from jupyssh.sshconfig.checker import check

__all__ = ["kernel"]


def _spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options add and edit share (edit: None means unchanged)."""
    decorators = [
        click.option("--remote-python", help="Python that runs the launcher on the host."),
        click.option("--remote-kernel", help="Kernelspec name on the host [python3]."),
        click.option("--env-setup", help="Shell text run first (module load …; source …)."),
        click.option("--cwd", help="The kernel's working directory on the host."),
        click.option("--launch-timeout", type=float, help="Seconds a start may take [30]."),
        click.option("--shutdown-timeout", type=float, help="Seconds a shutdown may take [10]."),
        click.option(
            "--interrupt-mode",
            type=click.Choice(["message", "signal"]),
            help="Interrupt by control message or by SIGINT to the kernel [message].",
        ),
        click.option(
            "--transport",
            type=click.Choice(["tcp", "ipc"]),
            help="Remote kernel on 127.0.0.1 ports, or on Unix sockets (ipc) [tcp].",
        ),
        click.option(
            "--persistent/--not-persistent",
            default=None,
            help="Keep the remote kernel when the local side leaves [not persistent].",
        ),
        click.option("--display-name", help="The name frontends show."),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@click.group()
def kernel() -> None:
    """Jupyter kernels that run on an ssh host, as if they were local."""


@kernel.command()
@click.argument("name")
@click.option("--host", "host", required=True, help="The ssh host alias the kernel runs on.")
@ssh_config_option
@_spec_options
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
    host: str,
    config_file: str | None,
    no_check: bool,
    replace: bool,
    **values: Any,
) -> None:
    """Add kernelspec NAME whose kernel runs on the ssh host alias --host.

    Unless --no-check, the alias is validated for the kernel role (jupyssh-sshconfig) and
    the host is asked, in one ssh session, for its python and kernelspecs.
    """
    options = SpecOptions(name=name, host=host, ssh_config=config_file, **_changes(values))
    options.validate()
    remote: RemoteSpecs | None = None
    if not no_check:
        _check_alias(options, output)
        remote = _check_host(options, output)
        found = remote.specs[options.remote_kernel.lower()]
        if not values.get("display_name"):
            options = SpecOptions(
                **{
                    **options.to_dict(),
                    "display_name": f"{found.get('display_name', options.remote_kernel)} on {host}",
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
    if options.remote_kernel.lower() not in remote.specs:
        raise RemoteKernelSpecMissing(
            f"no kernelspec {options.remote_kernel!r} on the host "
            f"(found: {', '.join(sorted(remote.specs))})",
            where=options.host,
            hint="pass one of those with --remote-kernel",
        )
    return remote


@kernel.command(name="remote")
@click.argument("alias")
@ssh_config_option
@click.option("--remote-python", default="python3", show_default=True)
@click.option("--env-setup", default="", help="Shell text run first.")
@json_option
@verbosity_option
@pass_output
def remote_specs(
    output: Output, *, alias: str, config_file: str | None, remote_python: str, env_setup: str
) -> None:
    """List the kernelspecs of ssh host ALIAS (to pick --remote-kernel from)."""
    options = SpecOptions(
        name="probe",
        host=alias,
        ssh_config=config_file,
        remote_python=remote_python,
        env_setup=env_setup,
    )
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

    output.emit(remote.to_dict(), render)


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
            row["check"] = _row_check(SpecOptions(**row["options"]))

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
@click.option("--host", help="The ssh host alias.")
@ssh_config_option
@_spec_options
@json_option
@verbosity_option
@pass_output
def edit(
    output: Output, /, *, name: str, host: str | None, config_file: str | None, **values: Any
) -> None:
    """Change options of jupyssh kernelspec NAME (those given; the rest stay)."""
    changes = _changes({**values, "host": host, "ssh_config": config_file})
    folder, options = edit_spec(name, changes)
    output.emit(
        {"name": name, "resource_dir": str(folder), "options": options.to_dict()},
        lambda console: console.print(f"changed {', '.join(sorted(changes)) or 'nothing'}"),
    )


@kernel.command()
@click.argument("name")
@json_option
@verbosity_option
@pass_output
def delete(output: Output, *, name: str) -> None:
    """Remove jupyssh kernelspec NAME (other kernelspecs are refused)."""
    folder = delete_spec(name)
    output.emit(
        {"name": name, "removed": str(folder)},
        lambda console: console.print(f"removed kernel {name} ({folder})"),
    )


@kernel.command(name="launch")
@click.option("--kernel", "kernel_name", required=True, help="The jupyssh kernelspec to run.")
@click.option(
    "--connection-file",
    help="Use (or write) this connection file: its ports and key are kept.",
)
@click.option("--persistent/--not-persistent", default=None, help="Override the spec's default.")
@click.option("--existing", help="Re-attach to the kernel of this state file.")
@click.option("--leave", is_flag=True, help="Start, then leave the kernel running at once.")
@click.option("--state-file", help="Where --leave (or SIGQUIT) writes the state file.")
@verbosity_option
def launch_command(
    *,
    kernel_name: str,
    connection_file: str | None,
    persistent: bool | None,
    existing: str | None,
    leave: bool,
    state_file: str | None,
) -> None:
    """Run one remote kernel until a signal: SIGINT interrupts, SIGUSR1 restarts,
    SIGTERM/SIGHUP shut down (leave if persistent), SIGUSR2 shuts down, SIGQUIT leaves."""
    request = LaunchRequest(
        kernel=kernel_name,
        connection_file=connection_file,
        persistent=persistent,
        existing=existing,
        leave=leave,
        state_file=state_file,
    )
    asyncio.run(launch(request))
