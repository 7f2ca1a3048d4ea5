"""Commands over exec through the bridge with OpenSSH's ssh: output streams apart, stdin,
exit statuses, a large binary stream byte-exact, many connections at once."""

from __future__ import annotations

import concurrent.futures
import hashlib
import signal
import subprocess
import time
from collections.abc import Iterator

import paramiko
import pytest
from jupyssh_harness import KeyPair, stream_random

from jupyssh.bridge.server import BridgeServer

from .conftest import BridgeEndpoint

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
    stream = stream_random(bridge.argv, size)
    assert stream.status == 0, stream.stderr
    assert stream.received == size
    assert stream.remote_digest == stream.digest


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
        # $PPID is the kernel: its memory maps show the reader module it loaded
        bridge.argv("grep -c '/_reader[.]' /proc/$PPID/maps; echo started; sleep 5"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) >= 1
        assert proc.stdout.readline() == b"started\n"
        facts = [(s.reader_impl, s.reader_source) for s in bridge_server.sessions]
        proc.kill()
        proc.wait(timeout=30)
    assert facts  # (a session of an earlier test may still be closing: same facts)
    assert set(facts) == {("compiled", "shipped")}


def test_finding_12_env_set_by_openssh_reaches_the_command(bridge: BridgeEndpoint) -> None:
    """SetEnv of an accepted name (its value may hold "="), as sshd's AcceptEnv; a name
    outside the list is dropped. OpenSSH cannot send what execve refuses (C strings,
    the name ends at the first "="): the next test sends that with paramiko."""
    argv = bridge.argv('printf "%s|%s" "$LC_JUPYSSH" "${JUPYSSH_OTHER-unset}"')
    argv[1:1] = ["-o", "SetEnv=LC_JUPYSSH=a=b JUPYSSH_OTHER=x"]
    result = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a=b|unset"


@pytest.fixture
def paramiko_client(bridge: BridgeEndpoint, keypair: KeyPair) -> Iterator[paramiko.Transport]:
    transport = paramiko.Transport(("127.0.0.1", bridge.port))
    try:
        transport.start_client(timeout=60)
        transport.auth_publickey("jupyter", paramiko.PKey.from_path(keypair.private_key))
        yield transport
    finally:
        transport.close()
        transport.join(10)


def _exec(
    transport: paramiko.Transport, command: str, env: dict[str, str]
) -> tuple[bytes, bytes, int, float]:
    """stdout, stderr, exit status and seconds of ``command`` (each wait bounded: 60 s,
    under pytest's timeout, so that a hang fails here with a socket timeout)."""
    started = time.monotonic()
    channel = transport.open_session(timeout=60)
    try:
        channel.settimeout(60)
        for name, value in env.items():
            channel.set_environment_variable(name, value)
        channel.exec_command(command)
        channel.shutdown_write()
        stdout = channel.makefile("rb").read()
        stderr = channel.makefile_stderr("rb").read()
        assert channel.status_event.wait(60), "no exit status"
        return stdout, stderr, channel.exit_status, time.monotonic() - started
    finally:
        channel.close()


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        ('echo "ran ${LC_A-without}"', {"LC_A=B": "x"}, (b"ran without\n", 0)),
        ('echo "ran ${LC_A-without}"', {"LC_A": "x\0y"}, (b"ran without\n", 0)),
        ("echo a\0b", {}, (b"", 1)),
    ],
    ids=["equals-in-name", "nul-in-value", "nul-in-command"],
)
def test_finding_12_what_execve_refuses_ends_the_channel_promptly(
    paramiko_client: paramiko.Transport,
    command: str,
    env: dict[str, str],
    expected: tuple[bytes, int],
) -> None:
    """Before: the agent's Popen raised ValueError, nothing answered, and the channel
    hung until the client gave up. Now a bad env is refused up front (the command runs
    without it, as sshd drops what AcceptEnv refuses) and a NUL in the command ends the
    channel with status 1 and a message; the connection stays usable."""
    stdout, stderr, status, seconds = _exec(paramiko_client, command, env)
    assert (stdout, status) == expected, stderr
    if status:
        assert b"NUL byte" in stderr
    assert seconds < 60  # the kernel's start included; the hang was unbounded
    assert _exec(paramiko_client, "echo after", {})[:3] == (b"after\n", b"", 0)
