"""Fixtures of jupyssh-sftp's integration tests: the SFTP server (in this process, or as
a ``jupyssh sftp serve`` subprocess) in front of the real ``jupyter_server`` container, and
OpenSSH's own ``sftp`` and ``scp`` pointed at it with the server's host key pinned
(``StrictHostKeyChecking=yes``), in BatchMode, with the test keypair.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest
from jupyssh_harness import JupyterServer, KeyPair
from jupyssh_harness.openssh import pinned_options

from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig
from jupyssh.sftp import SFTPOnlyServer, SFTPOptions, SFTPService

COMMAND_TIMEOUT = 300.0
_MiB = 1024 * 1024


@dataclass(frozen=True)
class SFTPEndpoint:
    """Where the SFTP server listens, and OpenSSH client options that trust it."""

    port: int
    known_hosts: Path
    keypair: KeyPair
    #: the Jupyter root on the host (the container's root_dir, bind-mounted)
    root: Path

    def options(self) -> list[str]:
        return pinned_options(
            self.known_hosts, self.keypair.private_key, port=self.port, port_flag="-P"
        )

    def sftp_argv(self) -> list[str]:
        return ["sftp", *self.options(), "-b", "-", "tester@127.0.0.1"]

    def sftp(self, commands: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``commands`` through ``sftp -b -`` (a failing command stops the batch and
        makes the exit status 1, unless it is prefixed with ``-``)."""
        result = subprocess.run(
            self.sftp_argv(),
            input=commands,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"sftp failed ({result.returncode}):\n{commands}\n{result.stderr}")
        return result

    def scp_argv(self, *args: str) -> list[str]:
        return ["scp", *self.options(), *args]

    def scp(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``scp`` (SFTP mode, OpenSSH's default); remote paths as ``remote(path)``."""
        result = subprocess.run(
            self.scp_argv(*args),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"scp {args} failed ({result.returncode}):\n{result.stderr}")
        return result

    @staticmethod
    def remote(path: str) -> str:
        return f"tester@127.0.0.1:{path}"


def write_random(path: Path, size: int) -> str:
    """Fill ``path`` with ``size`` random bytes, in 8 MiB pieces; return the sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left > 0:
            piece = os.urandom(min(left, 8 * _MiB))
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(8 * _MiB):
            digest.update(piece)
    return digest.hexdigest()


def leftovers(root: Path) -> list[str]:
    """Our temporary and set-aside files anywhere under ``root``, the server's trash
    excepted; there (jupyter_server deletes to ``.Trash-<uid>`` by default) ours must be
    empty, since the server discards them emptied."""
    found = []
    for path in root.rglob("*.jupyssh-*"):
        relative = path.relative_to(root)
        if relative.parts[0].startswith(".Trash-"):  # files/<name>, info/<name>.trashinfo
            if relative.parts[1] == "files":
                assert path.stat().st_size == 0, f"trashed with its data: {path}"
        else:
            found.append(str(relative))
    return sorted(found)


def _authorized_keys(folder: Path, keypair: KeyPair) -> Path:
    path = folder / "authorized_keys"
    path.write_text(keypair.public_line + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def sftp_root(jupyter_server: JupyterServer) -> Path:
    assert jupyter_server.host_dir is not None
    return jupyter_server.host_dir


@pytest.fixture(scope="module")
def sftp_endpoint(
    jupyter_server: JupyterServer,
    keypair: KeyPair,
    sftp_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SFTPEndpoint]:
    """jupyssh-sftp in this process (small chunks and blocks, so that every code path of
    chunked uploads and ranged reads runs even on small files)."""
    folder = tmp_path_factory.mktemp("sftp-server")
    config = ServerConfig(
        host_key=folder / "host_key", authorized_keys=_authorized_keys(folder, keypair)
    )
    client = JupyterClient(jupyter_server.url, token=jupyter_server.token)
    options = SFTPOptions(chunk_size=1 * _MiB, read_block=1 * _MiB, read_ahead=3)
    with SFTPService(client, options) as service, SFTPOnlyServer(service, config) as server:
        server.start()
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n", encoding="ascii")
        yield SFTPEndpoint(server.address[1], known_hosts, keypair, sftp_root)


@dataclass
class ServerProcess:
    """``jupyssh sftp serve`` running as a child process."""

    process: subprocess.Popen[str]
    endpoint: SFTPEndpoint


def start_server_process(
    jupyter_server: JupyterServer, keypair: KeyPair, root: Path, folder: Path, *extra: str
) -> ServerProcess:
    """Start ``jupyssh sftp serve`` on a free port (token from the environment; ``extra``
    options appended), wait for its announcement and return it; the caller stops it with
    :func:`stop_server_process`."""
    argv: Sequence[str] = [
        str(Path(sys.executable).parent / "jupyssh"),
        "sftp",
        "serve",
        "--jupyter-url",
        jupyter_server.url,
        "--listen",
        "127.0.0.1:0",
        "--authorized-keys",
        str(_authorized_keys(folder, keypair)),
        "--host-key",
        str(folder / "host_key"),
        *extra,
    ]
    env = {**os.environ, "JUPYTER_TOKEN": jupyter_server.token}
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    known_line = ""
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("known_hosts: "):
            known_line = line.removeprefix("known_hosts: ").strip()
            break
    if not known_line:
        process.kill()
        process.wait(10)
        process.stdout.close()
        pytest.fail("jupyssh sftp serve did not start")
    port = int(known_line.split()[0].rpartition(":")[2])
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(known_line + "\n", encoding="ascii")
    return ServerProcess(process, SFTPEndpoint(port, known_hosts, keypair, root))


def stop_server_process(server: ServerProcess) -> int:
    """SIGTERM, then wait (bounded); return the exit status."""
    server.process.terminate()
    try:
        return server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
        raise
    finally:
        if server.process.stdout is not None:
            server.process.stdout.close()


@pytest.fixture
def client(sftp_endpoint: SFTPEndpoint) -> Iterator[paramiko.SFTPClient]:
    """paramiko's SFTP client, host key pinned."""
    ssh = paramiko.SSHClient()
    ssh.load_host_keys(str(sftp_endpoint.known_hosts))
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    ssh.connect(
        "127.0.0.1",
        port=sftp_endpoint.port,
        username="tester",
        key_filename=str(sftp_endpoint.keypair.private_key),
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
    )
    try:
        sftp = ssh.open_sftp()
        yield sftp
        sftp.close()
    finally:
        ssh.close()
