"""Unit tests of jupyssh-tunnel: no containers, no network beyond 127.0.0.1; a private
JUPYSSH_HOME.

``fake_ssh`` puts a stand-in ``ssh`` first on PATH. It knows what ``jupyter.py`` asks of
OpenSSH: a control master (``-N -f``), ``-O check``, ``-O forward -L``, ``-O cancel -L``,
``-O exit``, and remote commands, which it runs here with ``sh -c`` as sshd would on the
host. A forward is real: a relay process on 127.0.0.1 that the fake starts and ``-O
cancel`` / ``-O exit`` stop. Every call is recorded. ``fake_jupyter`` is a Jupyter server's
``/api`` and ``/api/status`` on 127.0.0.1, with a token.

(Kernel's tests have a simpler fake ``ssh``; this one could move to ``jupyssh.core.testing``.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "jupyssh-home"
    monkeypatch.setenv("JUPYSSH_HOME", str(home))
    return home


FAKE_SSH = r'''#!{python}
"""A stand-in for OpenSSH's ssh client (see the tests' conftest.py)."""

import json, os, signal, socket, subprocess, sys

STATE = os.environ["FAKE_SSH_STATE"]
WITH_VALUE = set("BbcDEeFIiJLlmOoPpRSWw")

RELAY = """
import socket, sys, threading, time
listener = socket.socket(fileno=int(sys.argv[1]))
target = sys.argv[2:]
def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(client):
    if len(target) == 1:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(target[0])
    else:
        upstream = socket.create_connection((target[0], int(target[1])))
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
listener.settimeout(1.0)
deadline = time.monotonic() + 300  # a relay left behind ends by itself
while time.monotonic() < deadline:
    try:
        client, _ = listener.accept()
    except socket.timeout:
        continue
    try:
        serve(client)
    except OSError:
        client.close()
"""


def fail(message, status=255):
    sys.stderr.write(message + "\r\n")
    sys.exit(status)


def parse(argv):
    flags, options, words = {}, {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            words = argv[i + 1:]
            break
        if arg.startswith("-") and len(arg) > 1:
            letter = arg[1]
            if letter in WITH_VALUE:
                value = arg[2:] or argv[i + 1]
                i += 0 if arg[2:] else 1
                if letter == "o":
                    key, _, val = value.partition("=")
                    options[key] = val
                else:
                    flags[letter] = value
            else:
                for each in arg[1:]:
                    flags[each] = True
        else:
            words = argv[i:]
            break
        i += 1
    return flags, options, words


def master_file():
    return os.path.join(STATE, "master")


def forward_file(spec):
    return os.path.join(STATE, "forwards", spec.replace("/", "_"))


def no_master():
    fail("Control socket connect(" + os.path.join(STATE, "ctl") + "): No such file or directory")


def stop_relay(path):
    try:
        pid = int(open(path).read())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


def forward(spec):
    host, port, *target = spec.split(":")
    listener = socket.socket()
    try:
        listener.bind((host, int(port)))
    except OSError:
        fail(
            f"bind [{host}]:{port}: Address already in use\r\n"
            f"channel_setup_fwd_listener_tcpip: cannot listen to port: {port}\r\n"
            "Could not request local forwarding."
        )
    listener.listen(16)
    relay = subprocess.Popen(
        [sys.executable, "-c", RELAY, str(listener.fileno()), *target],
        pass_fds=[listener.fileno()], start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.makedirs(os.path.join(STATE, "forwards"), exist_ok=True)
    with open(forward_file(spec), "w") as out:
        out.write(str(relay.pid))
    with open(os.path.join(STATE, "relays"), "a") as out:
        out.write(f"{relay.pid}\n")
    print(port)


def main(argv):
    with open(os.path.join(STATE, "calls.jsonl"), "a") as out:
        out.write(json.dumps(argv) + "\n")
    flags, options, words = parse(argv)
    operation = flags.get("O")
    if operation is not None:
        if not os.path.exists(master_file()):
            no_master()
        if operation == "check":
            fail("Master running (pid=" + open(master_file()).read().strip() + ")", 0)
        if operation == "forward":
            forward(flags["L"])
        elif operation == "cancel":
            stop_relay(forward_file(flags["L"]))
        elif operation == "exit":
            folder = os.path.join(STATE, "forwards")
            for name in os.listdir(folder) if os.path.isdir(folder) else []:
                stop_relay(os.path.join(folder, name))
            os.unlink(master_file())
            fail("Exit request sent.", 0)
        sys.exit(0)
    refusal = os.environ.get("FAKE_SSH_REFUSE")
    if refusal:
        fail(refusal)
    if flags.get("N") and flags.get("f"):
        with open(master_file(), "w") as out:
            out.write("4242")
        sys.exit(0)
    if len(words) >= 2:  # a remote command: run it here, as sshd would on the host
        os.execvp("sh", ["sh", "-c", words[-1]])
    fail("fake ssh: unsupported call " + " ".join(argv))


main(sys.argv[1:])
'''


@dataclass
class FakeSSH:
    """The fake ``ssh`` program's folder of state: its calls, its master, its relays."""

    program: Path
    state: Path

    def calls(self) -> list[list[str]]:
        """Every argv the fake was called with (without the program), in order."""
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def operations(self) -> list[str]:
        """The ``-O`` operations, with the ``-L`` spec of forward and cancel."""
        found = []
        for argv in self.calls():
            if "-O" in argv:
                operation = argv[argv.index("-O") + 1]
                if "-L" in argv:
                    operation += " " + argv[argv.index("-L") + 1]
                found.append(operation)
        return found

    @property
    def master_running(self) -> bool:
        return (self.state / "master").exists()

    def forwards(self) -> list[str]:
        folder = self.state / "forwards"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def relay_pids(self) -> list[int]:
        path = self.state / "relays"
        return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSSH]:
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    program = folder / "ssh"
    program.write_text(FAKE_SSH.replace("{python}", sys.executable, 1))
    program.chmod(0o755)
    state = tmp_path / "fake-ssh-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SSH_STATE", str(state))
    # The "remote" login shell is a plain sh with an empty home.
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.setenv("HOME", str(tmp_path / "remote-home"))
    fake = FakeSSH(program, state)
    yield fake
    for pid in fake.relay_pids():  # the relays the fake started for this test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


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

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append((self.path, self.headers.get("Authorization", "")))
            if self.path == "/api":
                self._answer(200, {"version": "2.14.0"})
            elif self.path == "/api/status":
                if self.headers.get("Authorization") == f"token {token}":
                    self._answer(200, {"started": "2026-01-01T00:00:00Z", "kernels": 0})
                else:
                    self._answer(403, {"message": "Forbidden"})
            else:
                self._answer(404, {"message": "Not found"})

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "remote-runtime"))
    try:
        yield FakeJupyter(server.server_address[1], token, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


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
