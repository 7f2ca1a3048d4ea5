"""File copies that run over exec through the bridge: rsync, and OpenSSH's ``scp -O`` (the legacy
protocol: ``scp -t``/``scp -f`` on the far side, in the kernel's container), both ways,
byte-exact; and the ``sftp`` subsystem, served when ``jupyssh-sftp`` is installed."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer

from jupyssh.bridge.server import sftp_available

from .conftest import BridgeEndpoint

pytestmark = [
    pytest.mark.integration,
]


def _scp(bridge: BridgeEndpoint, *args: str) -> subprocess.CompletedProcess[bytes]:
    options = bridge.options()
    port_at = options.index("-p")
    options[port_at] = "-P"  # scp spells the port option in capitals
    return subprocess.run(
        ["scp", "-O", "-q", *options, *args],
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_scp_legacy_protocol_copies_both_ways(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    assert jupyter_server.host_dir is not None
    payload = os.urandom(3 * 1024 * 1024 + 17)
    local = tmp_path / "up.bin"
    local.write_bytes(payload)
    remote = f"{jupyter_server.root_dir}/scp-up.bin"

    up = _scp(bridge, str(local), f"jupyter@127.0.0.1:{remote}")
    assert up.returncode == 0, up.stderr
    assert (jupyter_server.host_dir / "scp-up.bin").read_bytes() == payload

    back = tmp_path / "down.bin"
    down = _scp(bridge, f"jupyter@127.0.0.1:{remote}", str(back))
    assert down.returncode == 0, down.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()


def test_scp_reports_a_missing_remote_file(bridge: BridgeEndpoint, tmp_path: Path) -> None:
    result = _scp(bridge, "jupyter@127.0.0.1:/no/such/file", str(tmp_path / "x"))
    assert result.returncode != 0
    assert b"No such file" in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_sftp_subsystem_follows_the_sftp_package(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    """With jupyssh-sftp installed ``sftp`` works through the bridge; without it the
    subsystem is refused (never half-served)."""
    assert jupyter_server.host_dir is not None
    (jupyter_server.host_dir / "via-sftp.txt").write_bytes(b"over the subsystem\n")
    batch = tmp_path / "batch"
    batch.write_text(f"get via-sftp.txt {tmp_path / 'got.txt'}\n", encoding="utf-8")
    options = bridge.options()
    options[options.index("-p")] = "-P"
    result = subprocess.run(
        ["sftp", "-b", str(batch), *options, "jupyter@127.0.0.1"],
        capture_output=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if sftp_available():
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "got.txt").read_bytes() == b"over the subsystem\n"
    else:
        assert result.returncode != 0
        assert b"subsystem request failed" in result.stderr


def _rsync(bridge: BridgeEndpoint, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["rsync", "-a", "--checksum", "-e", shlex.join(["ssh", *bridge.options()]), *args],
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_rsync_over_exec_copies_a_tree_both_ways(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    """rsync runs `rsync --server` in the kernel's container over an exec channel: its
    protocol needs stdin, stdout and the exit status to pass unchanged."""
    assert jupyter_server.host_dir is not None
    source = tmp_path / "tree"
    (source / "sub dir").mkdir(parents=True)
    (source / "a.bin").write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    (source / "sub dir" / "b.txt").write_bytes(b"line\r\nwith CR LF\n")
    (source / "empty").write_bytes(b"")
    remote = f"{jupyter_server.root_dir}/rsync-up"

    up = _rsync(bridge, f"{source}/", f"jupyter@127.0.0.1:{remote}/")
    assert up.returncode == 0, up.stderr
    assert _tree(jupyter_server.host_dir / "rsync-up") == _tree(source)

    back = tmp_path / "back"
    down = _rsync(bridge, f"jupyter@127.0.0.1:{remote}/", f"{back}/")
    assert down.returncode == 0, down.stderr
    assert _tree(back) == _tree(source)
