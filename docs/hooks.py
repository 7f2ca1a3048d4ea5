"""mkdocs hook: pages that list facts the code owns are filled in from the code itself.

- ``{{ error_table }}`` (errors.md): every error class of every installed jupyssh package,
  package by package (``jupyssh.core.errors.installed_error_classes``).
- ``{{ exit_status_table }}`` (cli.md): every exit status of the ``jupyssh`` command, from
  ``jupyssh.core.cli.EXIT_STATUSES`` and the error classes' own codes.
- ``{{ command_table }}`` (cli.md): every ``jupyssh`` command of the installed packages,
  read from the click tree.

The unit tests of core (``test_docs_hooks.py``) render these tables and check them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import click

from jupyssh.core.cli import EXIT_STATUSES, cli
from jupyssh.core.errors import JupysshError, installed_error_classes
from jupyssh.core.output import Output
from jupyssh.kernel.options import markdown_table as kernel_options_table


def _summary(text: str | None) -> str:
    """The first paragraph of a docstring, on one line (a table cell)."""
    paragraph = (text or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("|", "\\|")


def _package(cls: type[JupysshError]) -> str:
    """``jupyssh.kernel.errors`` -> ``jupyssh-kernel``."""
    return "jupyssh-" + cls.__module__.split(".")[1]


def error_table() -> str:
    """One table per installed package: kind, exit status, class, meaning."""
    sections = []
    for package, classes in groupby(installed_error_classes(), key=_package):
        rows = ["| kind | exit status | class | meaning |", "|---|---|---|---|"]
        rows += [
            f"| `{cls.kind}` | {cls.exit_code} | `{cls.__module__}.{cls.__name__}` "
            f"| {_summary(cls.__doc__)} |"
            for cls in classes
        ]
        sections.append(f"### {package}\n\n" + "\n".join(rows))
    return "\n\n".join(sections)


def exit_status_table() -> str:
    """Every status the ``jupyssh`` command exits with, and what it means."""
    kinds: dict[int, list[str]] = {}
    for cls in installed_error_classes():
        if cls is not JupysshError:  # the base class is never raised itself
            kinds.setdefault(cls.exit_code, []).append(f"`{cls.kind}`")
    rows = ["| status | meaning |", "|---|---|"]
    for code in sorted({*EXIT_STATUSES, *kinds}):
        meaning = EXIT_STATUSES.get(code, "")
        if code in kinds:
            errors = "a typed error of kind " + ", ".join(kinds[code])
            meaning = f"{meaning}; or {errors}" if meaning else errors
        rows.append(f"| {code} | {meaning} |")
    return "\n".join(rows)


def _commands(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """Every leaf command under ``command``, depth first, in name order."""
    if not isinstance(command, click.Group):
        yield command, ctx
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None:
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def _takes_json(command: click.Command) -> bool:
    return any("--json" in param.opts for param in command.params)


def command_table() -> str:
    """Every ``jupyssh`` command: usage, what it does, whether it takes ``--json``."""
    root = click.Context(cli, info_name="jupyssh", obj=Output())
    rows = ["| command | what it does | `--json` |", "|---|---|---|"]
    for command, ctx in _commands(cli, root):
        usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
        what = _summary(command.help) or command.get_short_help_str()
        if command.hidden or command.deprecated:
            what = f"(deprecated, hidden) {what}"
        rows.append(f"| `{usage}` | {what} | {'yes' if _takes_json(command) else 'no'} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    for placeholder, render in (
        ("{{ error_table }}", error_table),
        ("{{ exit_status_table }}", exit_status_table),
        ("{{ command_table }}", command_table),
        ("{{ kernel_options }}", kernel_options_table),
    ):
        if placeholder in markdown:
            markdown = markdown.replace(placeholder, render())
    return markdown
