"""Commands over exec through the bridge with OpenSSH's ssh: output streams apart, stdin,
exit statuses, a large binary stream byte-exact, many connections at once."""

from __future__ import annotations

import concurrent.futures
import hashlib
import signal
import subprocess

import pytest

from jupyssh.bridge.server import BridgeServer

from .conftest import BridgeEndpoint, stream_random

pytestmark = [
    pytest.mark.integration,
]


def test_stdout_stderr_and_exit_status_apart(bridge: BridgeEndpoint) -> None:
    result = bridge.run("echo hi; echo err >&2; exit 3")
    assert result.stdout == b"hi\n"
    assert result.stderr == b"err\n"
    assert result.returncode == 3


def test_piped_stdin_reaches_the_command_and_its_eof(bridge: BridgeEndpoint) -> None:
    data = b"data" * 1000 + bytes(range(256))
    result = bridge.run("sha256sum", input=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_a_large_stream_arrives_byte_exact(bridge: BridgeEndpoint) -> None:
    """200 MB of random bytes: exactly what the kernel's side hashed, none lost to the
    IOPub rate limits (left at their defaults) or the SSH window."""
    size = 200_000_000
    stream = stream_random(bridge, size)
    assert stream.status == 0, stream.stderr
    assert stream.received == size
    assert stream.kernel_digest == stream.digest


def test_twenty_concurrent_connections_each_get_their_own_output(
    bridge: BridgeEndpoint,
) -> None:
    def one(n: int) -> tuple[int, bytes, bytes, int]:
        result = bridge.run(f"echo start-{n}; sleep 1; echo end-{n} >&2; exit {n % 7}")
        return n, result.stdout, result.stderr, result.returncode

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    for n, stdout, stderr, status in results:
        assert (stdout, stderr, status) == (f"start-{n}\n".encode(), f"end-{n}\n".encode(), n % 7)


def test_a_killed_command_reports_128_plus_signal(bridge: BridgeEndpoint) -> None:
    result = bridge.run("kill -TERM $$")
    assert result.returncode == 128 + signal.SIGTERM


def test_bytes_pass_unchanged_both_ways(bridge: BridgeEndpoint) -> None:
    data = bytes(range(256)) * 64 + b"\r\n\n\r\x00\xff"
    result = bridge.run("cat", input=data)
    assert result.returncode == 0
    assert result.stdout == data


def test_a_command_that_is_not_there(bridge: BridgeEndpoint) -> None:
    result = bridge.run("no-such-command-jupyssh")
    assert result.returncode == 127
    assert b"not found" in result.stderr


def test_the_kernel_runs_the_compiled_reader_shipped_by_the_bridge(
    bridge: BridgeEndpoint, bridge_server: BridgeServer
) -> None:
    """The Jupyter container's Python has the bridge's ABI and no jupyssh installed: the
    bridge sends its compiled reader over the comm, and the agent loads it."""
    with subprocess.Popen(
        bridge.argv("echo started; sleep 5"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        facts = [(s.reader_impl, s.reader_source) for s in bridge_server.sessions]
        proc.kill()
        proc.wait(timeout=30)
    assert facts  # (a session of an earlier test may still be closing: same facts)
    assert set(facts) == {("compiled", "shipped")}
