"""The ``--json`` convention shared by every ``jupyssh`` subcommand.

A command computes one JSON-ready value and a way to show it to a person; :class:`Output`
prints one or the other. Human output goes through rich; JSON output is one document on
stdout, so ``jupyssh … --json | jq`` always works, errors included (see ``cli.main``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "StatusLine", "json_option", "pass_output"]


@dataclass
class Output:
    """How the current command prints: as JSON or for a person, and how loudly."""

    json: bool = False
    verbosity: int = 0
    _console: Console | None = field(default=None, repr=False)

    @property
    def console(self) -> Console:
        """The console human output goes to, made on first use: rich costs a command
        that prints nothing for a person (``tunnel ws-proxy``, ssh's ProxyCommand at every
        login) ~20 ms to import."""
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Print ``data`` as JSON with ``--json``; otherwise call ``render``."""
        if self.json:
            click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            render(self.console)

    def step(self, message: str) -> None:
        """A progress line for a person (to stderr, so JSON on stdout stays clean)."""
        if not self.json:
            from rich.console import Console  # noqa: PLC0415 - see console

            Console(stderr=True, highlight=False).print(f"[dim]…[/dim] {message}")


class StatusLine:
    """A long wait's state on stderr: one line rewritten in place on a terminal, or a
    line per change elsewhere (a log file or a pipe must not fill with carriage returns).

    Callers show a text as often as they like; ``detail`` (an elapsed time, say) refreshes
    a terminal's line but is not a change worth a line of its own in a log."""

    def __init__(self, prefix: str = "", stream: TextIO | None = None) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self._text: str | None = None
        self._drawn = False

    def show(self, text: str, detail: str = "") -> None:
        changed, self._text = text != self._text, text
        if self.live:
            line = f"{self.prefix}{text}{f', {detail}' if detail else ''}"
            self.stream.write(f"\r\x1b[K{line}")
            self._drawn = True
        elif changed:
            self.stream.write(f"{self.prefix}{text}\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line: the next output starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(Output).json = True
    return value


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json`` to a command (it may also be given before the subcommand)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        is_eager=True,  # before --version, which prints and exits
        callback=_set_json,
        help="Print one JSON document on stdout instead of a table.",
    )(command)


pass_output = click.make_pass_decorator(Output, ensure=True)
