"""One SSH connection, several channels at once (OpenSSH's ControlMaster: what VS Code,
ansible and `ssh -o ControlMaster=auto` users have), and a slow client that holds the
whole path back without losing a byte."""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, stream_random, wait_for

from jupyssh.bridge.server import BridgeServer

from .conftest import BridgeEndpoint, kernel_ids

pytestmark = [pytest.mark.integration]


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short folder for control sockets (a socket's path must fit in 108 bytes, and ssh
    adds a random suffix while it makes one)."""
    path = Path(tempfile.mkdtemp(prefix="jb-cm-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def master(bridge: BridgeEndpoint, socket_dir: Path) -> Iterator[list[str]]:
    """A ControlMaster connection to the bridge; yields ssh options that reuse it."""
    socket = socket_dir / "cm"
    options = bridge.options(control_path=socket)
    started = subprocess.run(
        [
            "ssh",
            *bridge.options(control_path=socket, control_master="yes"),
            "-fN",
            "jupyter@127.0.0.1",
        ],
        capture_output=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield options
    finally:
        subprocess.run(
            ["ssh", *options, "-O", "exit", "jupyter@127.0.0.1"],
            capture_output=True,
            timeout=60,
            check=False,
        )


def _over(options: list[str], *remote: str, tty: bool = False) -> list[str]:
    """ssh through the master (ControlMaster=no with its ControlPath: a new channel)."""
    return ["ssh", *(["-tt"] if tty else ["-T"]), *options, "jupyter@127.0.0.1", *remote]


def test_channels_of_one_connection_run_at_once(
    master: list[str], bridge_server: BridgeServer, jupyter_server: JupyterServer
) -> None:
    sessions_before = {s.kernel_id for s in bridge_server.sessions}
    shell = subprocess.Popen(
        _over(master, tty=True),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:

        def one(n: int) -> tuple[int, bytes, bytes, int]:
            result = subprocess.run(
                _over(master, f"echo out-{n}; sleep 1; echo err-{n} >&2; exit {n}"),
                capture_output=True,
                timeout=120,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            return n, result.stdout, result.stderr, result.returncode

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(one, range(6)))
        elapsed = time.monotonic() - started
        for n, stdout, stderr, status in results:
            expected = (f"out-{n}\n".encode(), f"err-{n}\n".encode(), n)
            assert (stdout, stderr, status) == expected, results
        assert elapsed < 6 * 1.0, "the channels ran one after another"
        # one connection: one session, one kernel, for the shell and the six commands
        new = {s.kernel_id for s in bridge_server.sessions} - sessions_before
        assert len(new) == 1

        assert shell.stdin is not None
        assert shell.stdout is not None
        shell.stdin.write(b"echo shell-$((6*7)); exit 5\n")
        shell.stdin.flush()
        assert shell.wait(timeout=60) == 5
        assert b"shell-42" in shell.stdout.read()
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait(timeout=30)
        for stream in (shell.stdin, shell.stdout):
            if stream is not None:
                stream.close()


def test_a_slow_client_loses_nothing(bridge: BridgeEndpoint) -> None:
    """The client stops reading for seconds: its SSH window closes, the bridge stops
    acknowledging, the agent's reader waits, the producer blocks; then all of it arrives."""
    size = 40_000_000
    # 5 s: far longer than every window in the path takes to fill
    stream = stream_random(bridge.argv, size, pause_after=4_000_000, pause=5.0)
    assert stream.status == 0, stream.stderr
    assert stream.received == size
    assert stream.remote_digest == stream.digest


def test_the_master_leaves_no_kernel_when_it_exits(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, socket_dir: Path
) -> None:
    before = kernel_ids(jupyter_server)
    socket = socket_dir / "cm"
    options = bridge.options(control_path=socket)
    subprocess.run(
        [
            "ssh",
            *bridge.options(control_path=socket, control_master="yes"),
            "-fN",
            "jupyter@127.0.0.1",
        ],
        capture_output=True,
        timeout=120,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    result = subprocess.run(
        _over(options, "echo via-master"), capture_output=True, timeout=120, check=False
    )
    assert result.stdout == b"via-master\n"
    assert kernel_ids(jupyter_server) - before
    subprocess.run(
        ["ssh", *options, "-O", "exit", "jupyter@127.0.0.1"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    wait_for(lambda: not kernel_ids(jupyter_server) - before, 10, "the master's kernel to go")
