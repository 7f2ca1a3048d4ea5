"""Unit tests of jupyssh-tunnel: no containers, no network beyond 127.0.0.1; a private
JUPYSSH_HOME.

``fake_ssh`` puts core's stand-in ``ssh`` (:class:`jupyssh.core.testing.FakeSSH`) first on
PATH, with real forwards: a relay process on 127.0.0.1 for each, that ``-O cancel`` /
``-O exit`` stop. ``fake_jupyter`` is a Jupyter server's ``/api`` and ``/api/status`` on
127.0.0.1, with a token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyssh.core.testing import FakeSSH, JSONHandler, serve_http


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "jupyssh-home"
    monkeypatch.setenv("JUPYSSH_HOME", str(home))
    return home


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSSH]:
    """The fake ``ssh`` first on PATH, with real forwards (relays on 127.0.0.1)."""
    fake = FakeSSH.install(tmp_path / "fake-bin", relays=True)
    monkeypatch.setenv("PATH", f"{fake.program.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # The "remote" login shell is a plain sh with an empty home.
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.setenv("HOME", str(tmp_path / "remote-home"))
    yield fake
    fake.stop()


@dataclass
class FakeJupyter:
    """A Jupyter server's ``/api`` and ``/api/status`` on 127.0.0.1, and its record."""

    port: int
    token: str
    requests: list[tuple[str, str]]

    def write_record(
        self, runtime: Path, *, pid: int | None = None, token: str | None = None
    ) -> Path:
        """A ``jpserver-PID.json`` for this server (pid: this test process, so alive)."""
        pid = os.getpid() if pid is None else pid
        runtime.mkdir(parents=True, exist_ok=True)
        record = {
            "base_url": "/",
            "hostname": "127.0.0.1",
            "password": False,
            "pid": pid,
            "port": self.port,
            "root_dir": str(runtime),
            "secure": False,
            "sock": "",
            "token": self.token if token is None else token,
            "url": f"http://127.0.0.1:{self.port}/",
            "version": "2.14.0",
        }
        path = runtime / f"jpserver-{pid}.json"
        path.write_text(json.dumps(record))
        return path


@pytest.fixture
def fake_jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJupyter]:
    token = "fake" + "0123456789abcdef" * 2
    requests: list[tuple[str, str]] = []

    class Handler(JSONHandler):
        def do_GET(self) -> None:
            requests.append((self.path, self.headers.get("Authorization", "")))
            if self.path == "/api":
                self.answer(200, {"version": "2.14.0"})
            elif self.path == "/api/status":
                if self.headers.get("Authorization") == f"token {token}":
                    self.answer(200, {"started": "2026-01-01T00:00:00Z", "kernels": 0})
                else:
                    self.answer(403, {"message": "Forbidden"})
            else:
                self.answer(404, {"message": "Not found"})

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "remote-runtime"))
    with serve_http(Handler) as server:
        yield FakeJupyter(server.server_address[1], token, requests)


BROWSER_RECORDER = """#!/bin/sh
# Stands in for a browser: records the words it was given.
for word in "$@"; do printf '%s\\n' "$word"; done >> "$(dirname "$0")/browser-argv"
"""


@pytest.fixture
def browser_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$BROWSER is a script that records its argv in the returned file."""
    import webbrowser

    program = tmp_path / "browser" / "record-browser"
    program.parent.mkdir()
    program.write_text(BROWSER_RECORDER)
    program.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(program))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    # webbrowser reads $BROWSER once, at its first use: make it read it again.
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return program.parent / "browser-argv"
