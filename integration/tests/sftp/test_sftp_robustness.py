"""Acceptance 6 and 7: a client killed mid-upload loses nothing and leaves nothing behind;
the server's resident memory stays flat while 1 GiB goes up and comes back down (the server
runs as ``jupyssh sftp serve`` in its own process, so its RSS is its own)."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from jupyssh_harness import JupyterServer, KeyPair, wait_for

from .conftest import (
    ServerProcess,
    SFTPEndpoint,
    leftovers,
    sha256_of,
    start_server_process,
    stop_server_process,
    write_random,
)

_MiB = 1024 * 1024
RSS_LIMIT = 150 * 1000 * 1000  # "150 MB"


def _parts(root: Path, name: str) -> list[int]:
    """Sizes of the upload's temporary files in ``root``."""
    sizes = []
    for path in root.glob(f"{name}.jupyssh-*.part"):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # renamed or removed meanwhile
            continue
    return sizes


@pytest.mark.parametrize("tool", ["sftp", "scp"])
def test_client_killed_mid_upload_keeps_the_old_file_and_leaves_no_temp(
    sftp_endpoint: SFTPEndpoint, tmp_path: Path, tool: str
):
    name = f"victim-{tool}.bin"
    old, big = tmp_path / "old.bin", tmp_path / "big.bin"
    old_digest = write_random(old, 3 * _MiB + 11)
    write_random(big, 256 * _MiB)
    sftp_endpoint.sftp(f"put {old} {name}\n")
    root = sftp_endpoint.root
    if tool == "sftp":
        argv = sftp_endpoint.sftp_argv()
        stdin = f"put {big} {name}\n"
    else:
        argv, stdin = sftp_endpoint.scp_argv(str(big), sftp_endpoint.remote(name)), ""
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.flush()
        # mid-upload: the temporary file on the server holds a few chunks already
        wait_for(
            lambda: any(size >= 8 * _MiB for size in _parts(root, name)),
            120,
            "the upload to start",
            interval=0.1,
        )
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert sha256_of(root / name) == old_digest  # never touched while uploading
    # its ssh child sees the pipe close and disconnects; the server then drops the upload
    wait_for(lambda: not _parts(root, name), 60, "the temporary file to go")
    assert sha256_of(root / name) == old_digest
    assert leftovers(root) == []


@pytest.fixture
def server_process(
    jupyter_server: JupyterServer, keypair: KeyPair, sftp_root: Path, tmp_path: Path
) -> Iterator[ServerProcess]:
    folder = tmp_path / "server"
    folder.mkdir()
    server = start_server_process(jupyter_server, keypair, sftp_root, folder)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            assert stop_server_process(server) == 0


class PeakRSS:
    """Samples a process's resident set size every 50 ms on a thread; ``peak`` in bytes."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.samples += 1

    def __enter__(self) -> PeakRSS:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_memory_stays_flat_for_one_gib_up_and_down(server_process: ServerProcess, tmp_path: Path):
    endpoint = server_process.endpoint
    source = tmp_path / "gib.bin"
    digest = write_random(source, 1024 * _MiB)
    back = tmp_path / "back.bin"
    idle = psutil.Process(server_process.process.pid).memory_info().rss
    with PeakRSS(server_process.process.pid) as up:
        endpoint.sftp(f"put {source} gib.bin\n")
    source.unlink()  # keep the disk footprint of the suite down
    with PeakRSS(server_process.process.pid) as down:
        endpoint.sftp(f"get gib.bin {back}\n")
    assert sha256_of(back) == digest
    assert sha256_of(endpoint.root / "gib.bin") == digest
    (endpoint.root / "gib.bin").unlink()
    print(
        f"server RSS idle {idle / 1e6:.1f} MB, peak up {up.peak / 1e6:.1f} MB, "
        f"peak down {down.peak / 1e6:.1f} MB"
    )
    assert up.samples > 20
    assert down.samples > 20
    assert up.peak < RSS_LIMIT, f"peak RSS while uploading {up.peak / 1e6:.1f} MB"
    assert down.peak < RSS_LIMIT, f"peak RSS while downloading {down.peak / 1e6:.1f} MB"


def test_concurrent_uploads_to_one_path_end_whole(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    """Two clients put different 24 MiB files to one name at once: each streams to its own
    temporary file and the replacements are serialised, so the result is one of them whole."""
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    digests = {write_random(first, 24 * _MiB), write_random(second, 24 * _MiB)}
    processes = [
        subprocess.Popen(
            sftp_endpoint.sftp_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in (first, second)
    ]
    results = [
        process.communicate(f"put {source} contended.bin\n", timeout=300)
        for process, source in zip(processes, (first, second), strict=True)
    ]
    assert [p.returncode for p in processes] == [0, 0], results
    assert sha256_of(sftp_endpoint.root / "contended.bin") in digests
    assert leftovers(sftp_endpoint.root) == []


def test_server_stopped_mid_upload_drops_it_cleanly(server_process: ServerProcess, tmp_path: Path):
    """SIGTERM to ``jupyssh sftp serve`` during an upload: it exits 0, the old file stays,
    the temporary file is removed before the process ends."""
    endpoint = server_process.endpoint
    old, big = tmp_path / "old.bin", tmp_path / "big.bin"
    old_digest = write_random(old, _MiB)
    write_random(big, 256 * _MiB)
    endpoint.sftp(f"put {old} stopped.bin\n")
    with subprocess.Popen(
        endpoint.sftp_argv(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as client:
        assert client.stdin is not None
        client.stdin.write(f"put {big} stopped.bin\n")
        client.stdin.flush()
        wait_for(
            lambda: any(size >= 8 * _MiB for size in _parts(endpoint.root, "stopped.bin")),
            120,
            "the upload to start",
            interval=0.1,
        )
        assert stop_server_process(server_process) == 0
        client.wait(60)
    assert client.returncode != 0  # the client saw its upload fail
    assert _parts(endpoint.root, "stopped.bin") == []
    assert sha256_of(endpoint.root / "stopped.bin") == old_digest
