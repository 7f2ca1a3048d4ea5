"""Interactive shells through the bridge: a PTY with the client's TERM and size, resized
by window-change, Ctrl+C delivered as on a real terminal, the shell's exit status.

Driven by OpenSSH's ``ssh -tt`` — with scripted stdin, and inside tmux, which gives ssh a
real terminal to resize and type into.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import BridgeEndpoint, Tmux, ssh_in_tmux

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


@pytest.fixture
def tmux_ssh(bridge: BridgeEndpoint, tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    with ssh_in_tmux(bridge, tmp_path) as session:
        yield session


def test_interactive_shell_in_tmux(tmux_ssh: tuple[Tmux, Path]) -> None:
    tmux, status_file = tmux_ssh
    tmux.wait_for(lambda s: s.rstrip().endswith("$"))  # the prompt

    tmux.check_stty_follows_resize()

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
