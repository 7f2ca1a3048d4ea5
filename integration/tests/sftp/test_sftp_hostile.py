"""Hostile clients against ``jupyssh sftp serve`` (the real CLI process, in front of the
real Jupyter server container), with OpenSSH's own ``ssh`` and ``sftp`` as the clients
that must keep working: acceptance item 2 of the hardening issue, and security findings
4 (pre-authentication limits) and 14 (idle timeout, channel cap) end to end.

The hostile connections come from 127.0.0.2 — the whole of 127/8 is this machine — as an
attacker's would come from another address than the legitimate client's (127.0.0.1).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from jupyssh_harness import JupyterServer, KeyPair, wait_for

from .conftest import (
    ServerProcess,
    SFTPEndpoint,
    start_server_process,
    stop_server_process,
    write_random,
)
from .test_sftp_robustness import RSS_LIMIT, PeakRSS

pytestmark = [pytest.mark.integration]

_MiB = 1024 * 1024
HOSTILE_SOURCE = "127.0.0.2"
#: what h-sftp's handle limit allows (``--max-handles``, ``limits@openssh.com``)
MAX_HANDLES = 64

Serve = Callable[..., ServerProcess]


@pytest.fixture
def serve(
    jupyter_server: JupyterServer, keypair: KeyPair, sftp_root: Path, tmp_path: Path
) -> Iterator[Serve]:
    """``serve(*options)`` starts ``jupyssh sftp serve`` with those options."""
    started: list[ServerProcess] = []

    def start(*options: str) -> ServerProcess:
        folder = tmp_path / f"server-{len(started)}"
        folder.mkdir()
        server = start_server_process(jupyter_server, keypair, sftp_root, folder, *options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            assert stop_server_process(server) == 0


@pytest.fixture
def silent() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def half_open(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections from :data:`HOSTILE_SOURCE` that never say a word."""
    opened = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOSTILE_SOURCE, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        opened.append(sock)
    return opened


def kept(socks: list[socket.socket]) -> int:
    """How many the server kept (sent its banner to) rather than dropped (closed)."""
    return sum(sock.recv(64).startswith(b"SSH-2.0-") for sock in socks)


def ssh_argv(endpoint: SFTPEndpoint, *args: str) -> list[str]:
    """``ssh`` with the endpoint's options (``sftp`` and ``scp`` spell the port ``-P``)."""
    options = ["-p" if option == "-P" else option for option in endpoint.options()]
    return ["ssh", *options, *args]


def login_and_list(endpoint: SFTPEndpoint, budget: float) -> float:
    """Seconds OpenSSH's ``sftp`` took to log in and list ``/``, retried within ``budget``.

    With the default ``--max-startups 10:30:100`` a source at its cap (10) reaches START,
    so a new client is dropped at random 30% of the time, as with sshd; a drop costs a
    few milliseconds, and ten in a row would be a 6e-6 chance."""
    started = time.monotonic()
    for _ in range(10):
        result = endpoint.sftp("ls /\n", check=False)
        if result.returncode == 0:
            return time.monotonic() - started
        assert "Connection closed" in result.stderr or "reset" in result.stderr, result.stderr
        if time.monotonic() - started > budget:
            break
    pytest.fail(f"sftp could not log in and list within {budget:g} s")


def paramiko_sftp(
    endpoint: SFTPEndpoint, keypair: KeyPair
) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", endpoint.port))
    transport.connect(username="tester", pkey=paramiko.PKey.from_path(keypair.private_key))
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    return transport, client


def test_acceptance_2_hostile_clients_neither_lock_out_nor_exhaust_the_server(
    serve: Serve,
    keypair: KeyPair,
    sftp_root: Path,
    silent: list[socket.socket],
) -> None:
    """200 half-open TCP connections and 80 SFTP read handles (a 1-byte read each on a
    64 MiB file) at once: OpenSSH's sftp still logs in and lists within 2 s, and the
    server's RSS stays under 150 MB throughout."""
    folder = sftp_root / "hostile"
    folder.mkdir(exist_ok=True)
    write_random(folder / "big.bin", 64 * _MiB)
    server = serve()
    endpoint = server.endpoint
    transport, client = paramiko_sftp(endpoint, keypair)
    handles: list[paramiko.SFTPFile] = []
    refused: list[int] = []
    try:
        with PeakRSS(server.process.pid) as rss:
            silent += half_open(endpoint.port, 200)
            assert kept(silent) == 10  # --max-startups-per-source; the rest were dropped
            for number in range(80):
                try:
                    handle = client.open("hostile/big.bin", "rb")
                except OSError:  # past the handle limit: SSH_FX_FAILURE
                    refused.append(number)
                    continue
                handles.append(handle)
                assert handle.read(1)
                assert rss.peak < RSS_LIMIT, f"RSS {rss.peak / 1e6:.0f} MB with {number + 1} open"
            took = login_and_list(endpoint, budget=2.0)
            # keep everything open while the read-ahead it caused runs: 5 s of samples
            wait_for(lambda: rss.samples >= 100, 60, "100 RSS samples", interval=0.1)
            assert transport.is_active()
    finally:
        for handle in handles:
            with contextlib.suppress(OSError, EOFError):
                handle.close()
        client.close()
        transport.close()
        (folder / "big.bin").unlink()
    print(
        f"sftp logged in and listed in {took:.2f} s; server RSS peak {rss.peak / 1e6:.1f} MB "
        f"over {rss.samples} samples; {len(handles)} handles open, {len(refused)} refused"
    )
    assert took < 2.0
    assert all(number >= MAX_HANDLES for number in refused), refused
    assert rss.peak < RSS_LIMIT


def test_finding_4_silent_connections_do_not_lock_out_openssh(
    serve: Serve, silent: list[socket.socket]
) -> None:
    """Before, 16 silent connections refused every client for 15 s (30 s past kex)."""
    endpoint = serve("--max-startups-per-source", "4").endpoint
    silent += half_open(endpoint.port, 40)
    assert kept(silent) == 4
    assert login_and_list(endpoint, budget=2.0) < 2.0


def test_finding_14_a_connection_without_a_channel_is_closed_after_the_idle_timeout(
    serve: Serve, keypair: KeyPair
) -> None:
    endpoint = serve("--idle-timeout", "1").endpoint
    transport, client = paramiko_sftp(endpoint, keypair)  # an SFTP channel, left idle
    try:
        started = time.monotonic()
        idle = subprocess.run(  # -N: logged in, no channel
            ssh_argv(endpoint, "-N", "tester@127.0.0.1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        took = time.monotonic() - started
        assert idle.returncode == 255, idle.stderr
        assert "closed by remote host" in idle.stderr or "Connection closed" in idle.stderr
        assert 1.0 <= took < 15
        # idle longer than the timeout too, but with its channel open: still served
        assert client.listdir("/") is not None
        assert transport.is_active()
    finally:
        client.close()
        transport.close()


def test_finding_14_max_channels_refuses_the_extra_channel(serve: Serve, tmp_path: Path) -> None:
    endpoint = serve("--max-channels", "1").endpoint
    with socket.socket() as probe:  # a free local port for ssh's -L
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    argv = ssh_argv(
        endpoint,
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        f"127.0.0.1:{local_port}:127.0.0.1:9",
        "-s",
        "tester@127.0.0.1",
        "sftp",
    )
    log = tmp_path / "ssh.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(  # channel 1: the sftp subsystem, held open by our stdin
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr
        ) as ssh,
    ):
        try:

            def forward_opened() -> bool:  # channel 2: a connection to the -L port
                try:
                    socket.create_connection(("127.0.0.1", local_port), timeout=5).close()
                except ConnectionRefusedError:
                    return False
                return True

            wait_for(forward_opened, 30, "ssh's -L listener")
            wait_for(lambda: "open failed" in log.read_text(), 30, "ssh to report the refusal")
        finally:
            ssh.terminate()
            ssh.wait(30)
    assert "open failed: resource shortage: too many channels" in log.read_text()
