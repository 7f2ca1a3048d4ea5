"""Interactive shells through the bridge: a PTY with the client's TERM and size, resized
by window-change, Ctrl+C delivered as on a real terminal, the shell's exit status.

Driven by OpenSSH's ``ssh -tt`` — with scripted stdin, and inside tmux, which gives ssh a
real terminal to resize and type into.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import BridgeEndpoint

pytestmark = [
    pytest.mark.integration,
]


def test_scripted_shell_gets_term_size_and_exit_status(bridge: BridgeEndpoint) -> None:
    script = b"echo term=$TERM lang=$LANG; stty size; tty; exit 7\n"
    argv = bridge.argv(tty=True)
    argv[1:1] = ["-o", "SendEnv=LANG"]
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    result = subprocess.run(
        argv, input=script, capture_output=True, timeout=120, env=env, check=False
    )
    text = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 7, (text, result.stderr)
    assert "term=xterm-256color lang=C.UTF-8" in text
    assert "/dev/pts/" in text


def test_pty_and_exec_channels_carry_output_in_order(bridge: BridgeEndpoint) -> None:
    result = bridge.run("for i in $(seq 1 2000); do echo line-$i; done", tty=True)
    assert result.returncode == 0
    got = result.stdout.decode().replace("\r\n", "\n").splitlines()
    assert got == [f"line-{i}" for i in range(1, 2001)]


class Tmux:
    """A private tmux server (its own socket) with one window running ``command``."""

    def __init__(self, socket: Path, command: str, cols: int, rows: int) -> None:
        self.socket = socket
        self.run("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows), command)

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t", "-S", "-100")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the screen never matched; it shows:\n{screen}")

    def pane_size(self) -> tuple[int, int]:
        text = self.run("display-message", "-p", "-t", "t", "#{pane_height} #{pane_width}")
        rows, cols = text.split()
        return int(rows), int(cols)

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture
def tmux_ssh(bridge: BridgeEndpoint, tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    status_file = tmp_path / "status"
    ssh = shlex.join(bridge.argv(tty=True))
    command = f"TERM=xterm-256color {ssh}; echo $? > {shlex.quote(str(status_file))}"
    tmux = Tmux(tmp_path / "tmux.sock", f"sh -c {shlex.quote(command)}", 100, 30)
    try:
        yield tmux, status_file
    finally:
        tmux.kill()


def test_interactive_shell_in_tmux(tmux_ssh: tuple[Tmux, Path]) -> None:
    tmux, status_file = tmux_ssh
    tmux.wait_for(lambda s: s.rstrip().endswith("$"))  # the prompt

    rows, cols = tmux.pane_size()
    tmux.keys("stty size", "Enter")
    tmux.wait_for(lambda s: f"{rows} {cols}" in s)

    tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
    new_rows, new_cols = tmux.pane_size()
    assert (new_rows, new_cols) != (rows, cols)
    tmux.keys("clear; stty size", "Enter")
    tmux.wait_for(lambda s: f"{new_rows} {new_cols}" in s)

    tmux.keys("clear; sleep 100", "Enter")
    time.sleep(1.0)
    started = time.monotonic()
    tmux.keys("C-c")
    tmux.keys("echo after-$((6*7))", "Enter")
    tmux.wait_for(lambda s: "after-42" in s.replace("after-$((6*7))", ""), timeout=10)
    assert time.monotonic() - started < 10

    tmux.keys("exit 7", "Enter")
    deadline = time.monotonic() + 30
    while not status_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status_file.read_text().strip() == "7"
