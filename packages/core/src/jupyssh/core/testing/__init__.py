"""Helpers for the tests of jupyssh packages (and of plugins that add ``jupyssh`` commands).

``run_cli(capsys, "sshconfig", "check", "lab")`` runs the real ``jupyssh`` entry point,
plugins and all, in this process and returns its exit status and what it printed. It
needs no pytest import: any object with pytest's ``capsys.readouterr()`` will do.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from jupyssh.core.cli import main

__all__ = ["CLIResult", "Captured", "run_cli"]


class Captured(Protocol):
    """What ``capsys.readouterr()`` returns: the text written since the last call."""

    @property
    def out(self) -> str: ...

    @property
    def err(self) -> str: ...


class _Capture(Protocol):
    def readouterr(self) -> Captured: ...


class CLIResult(NamedTuple):
    """One ``jupyssh`` run: ``code, out, err = run_cli(...)`` unpacks it."""

    code: int
    out: str
    err: str


def run_cli(capsys: _Capture, *argv: str) -> CLIResult:
    """Run ``jupyssh ARGV...`` as the console script does and return its status and output.

    ``capsys`` is pytest's fixture (or anything with its ``readouterr()``); output written
    before the call is discarded, so the result holds this run's output only.
    """
    capsys.readouterr()
    try:
        main(list(argv))
    except SystemExit as exited:
        code = exited.code
    else:  # pragma: no cover - main() always exits
        raise AssertionError("jupyssh's main() returned instead of exiting")
    captured = capsys.readouterr()
    # sys.exit's own rules: None is success, a message (not an int) is status 1.
    status = 0 if code is None else code if isinstance(code, int) else 1
    return CLIResult(status, captured.out, captured.err)
