"""Helpers for the tests of jupyssh packages (and of plugins that add ``jupyssh`` commands).

``run_cli(capsys, "sshconfig", "check", "lab")`` runs the real ``jupyssh`` entry point,
plugins and all, in this process and returns its exit status and what it printed. It
needs no pytest import: any object with pytest's ``capsys.readouterr()`` will do.

``FakeSSH.install(folder)`` writes a stand-in ``ssh`` program (control master, forwards,
remote commands run here) for the unit tests of code that drives OpenSSH's client: see
:mod:`jupyssh.core.testing.fake_ssh`. ``serve_http(Handler)`` serves a fake HTTP API (a
Jupyter server's) on 127.0.0.1: see :mod:`jupyssh.core.testing.http`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from jupyssh.core.cli import main
from jupyssh.core.testing.fake_ssh import FakeSSH
from jupyssh.core.testing.http import JSONHandler, serve_http, url_of

__all__ = ["CLIResult", "Captured", "FakeSSH", "JSONHandler", "run_cli", "serve_http", "url_of"]


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
