"""The ``jupyssh`` command: a root group whose subcommands come from installed packages.

Each jupyssh package registers its click group under the entry-point group
``jupyssh.commands`` (``sshconfig = "jupyssh.sshconfig.cli:sshconfig"``), so installing a
package adds its subcommands and nothing else. Groups are imported only when used, and a
package that fails to import does not take the other commands down with it.

Exit statuses (the table in ``docs/cli.md`` is generated from :data:`EXIT_STATUSES` and
the error classes): 0 success; 1 the command ran and found problems (a check, as linters
do); 2 a usage error (click); 3..10 the typed errors of :mod:`jupyssh.core.errors`, each
with its own ``exit_code``; 70 an unexpected internal failure (sysexits' EX_SOFTWARE);
130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import EntryPoint, distributions, entry_points
from typing import Any, NoReturn

import click

from jupyssh.core._version import __version__
from jupyssh.core.errors import ConfigError, JupysshError
from jupyssh.core.log import configure_logging
from jupyssh.core.output import Output, json_option

__all__ = [
    "ENTRY_POINT_GROUP",
    "EXIT_FOUND_PROBLEMS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STATUSES",
    "EXIT_USAGE",
    "PluginGroup",
    "cli",
    "installed_packages",
    "main",
    "ssh_config_option",
    "verbosity_option",
]

ENTRY_POINT_GROUP = "jupyssh.commands"
_PRIVATE = "Private :: Do Not Upload"

EXIT_OK = 0
#: The command ran and found problems (``sshconfig check``, the kernel and tunnel checks).
EXIT_FOUND_PROBLEMS = 1
#: A wrong option or a missing argument (click's own status).
EXIT_USAGE = 2
#: An unexpected internal failure, a bug: sysexits' EX_SOFTWARE.
EXIT_INTERNAL = 70
#: Interrupted with Ctrl+C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: The statuses that are not a typed error's own ``exit_code``, with their meaning.
EXIT_STATUSES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FOUND_PROBLEMS: "the command ran and found problems (a check's findings)",
    EXIT_USAGE: "usage error: a wrong option or a missing argument",
    EXIT_INTERNAL: "an unexpected internal failure (a bug: please report it with -vvv output)",
    EXIT_INTERRUPTED: "interrupted (Ctrl+C)",
}

log = logging.getLogger(__name__)


def installed_packages() -> dict[str, str]:
    """Every installed jupyssh distribution and its version, by name."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        classifiers = dist.metadata.get_all("Classifier") or []
        if name.lower().startswith("jupyssh-") and _PRIVATE not in classifiers:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


class PluginGroup(click.Group):
    """A click group that lists and loads the subcommands registered as entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = _plugins().get(cmd_name)
        if entry is None:
            return None
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break the other commands
            provider = entry.dist.name if entry.dist else "the package that provides them"
            raise ConfigError(
                f"the {cmd_name!r} commands failed to load: {exc}",
                where=entry.value,
                hint=f"reinstall {provider}",
            ) from exc
        if not isinstance(loaded, click.Command):
            raise ConfigError(f"entry point {cmd_name!r} is not a click command", where=entry.value)
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but a subcommand group that fails to load is listed as such."""
        rows = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except JupysshError as exc:
                rows.append((name, f"(unavailable: {exc.message})"))
                continue
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _print_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    packages = installed_packages() or {"jupyssh-core": __version__}
    if ctx.ensure_object(Output).json:
        click.echo(json.dumps(packages, indent=2))
    else:
        for name, version in packages.items():
            click.echo(f"{name} {version}")
    ctx.exit()


def _set_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    output = ctx.ensure_object(Output)
    if value > output.verbosity:
        output.verbosity = value
        configure_logging(value)
    return value


def verbosity_option(command: Any) -> Any:
    """Add ``-v/--verbose`` (repeatable) to a command; it may also go before the subcommand."""
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="More detail: -v what happens, -vv debug, -vvv everything with tracebacks.",
    )(command)


def ssh_config_option(command: Any) -> Any:
    """Add ``-F/--config FILE`` (passed on as ``config_file``): the ssh config to read, as
    ``ssh -F``. Every command that takes an alias uses this one option."""
    return click.option(
        "-F",
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="ssh config file to read instead of ~/.ssh/config (as ssh -F).",
    )(command)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="List every installed jupyssh package with its version, and exit.",
)
@verbosity_option
@json_option
def cli() -> None:
    """Remote Jupyter over SSH: kernels, shells, files and tunnels."""


def _report(error: BaseException, output: Output) -> int:
    if isinstance(error, JupysshError):
        code, facts = error.exit_code, error.to_dict()
        line = str(error)
    else:
        code = EXIT_INTERNAL
        facts = {"kind": "internal", "message": repr(error), "exit_code": code}
        line = f"unexpected error: {error!r} (run with -vvv for the traceback)"
    if output.verbosity >= 3:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    if output.json:
        click.echo(json.dumps({"ok": False, "error": facts}, indent=2))
    else:
        click.echo(f"jupyssh: error: {line}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point: run ``jupyssh`` and exit with a documented status."""
    output = Output()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="jupyssh",
            standalone_mode=False,
            obj=output,
        )
    except click.exceptions.Abort:
        click.echo("jupyssh: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("jupyssh: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one clear line
        sys.exit(_report(exc, output))
    sys.exit(result if isinstance(result, int) else EXIT_OK)
