"""jupyssh-sftp against OpenSSH's own sftp-server in the same container (the ceiling).

One ``containers/jupyter-sshd`` container runs an sshd and a Jupyter server whose root is
the same home folder on the same disk. OpenSSH's ``sftp -b`` puts and gets a 256 MiB file
of random bytes to: OpenSSH's sftp-server (the ceiling), ``jupyssh sftp serve`` in its own
process (standalone), and a minimal paramiko SFTP server over the local disk (paramiko's
stub interface on ``jupyssh.core.server``, in its own process: the stack's own limit,
without ``limits@openssh.com``). Beside them, a plain Contents API upload in 1 MiB chunks
as JupyterLab does it, and a plain ``/files/`` download, both from this process. Reported:
MB/s, the ratio to the ceiling, and the server process's peak resident memory.

jupyssh-sftp is also measured as the subsystem of ``jupyssh bridge serve`` (the same
service mounted on the bridge's SSH server, its own process, the same Jupyter server).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import psutil
from _common import Context
from jupyssh_harness import KeyPair, generate_keypair, prepare, write_known_hosts
from jupyssh_harness.containers import (
    JUPYTER_PORT,
    LOOPBACK,
    SSH_PORT,
    jupyter_sshd_container,
    published_port,
)
from jupyssh_harness.keys import generate_host_key
from jupyssh_harness.openssh import pinned_argv
from testcontainers.core.container import DockerContainer

from jupyssh.core.jupyter import JupyterClient

MiB = 1024 * 1024
SIZE = 256 * MiB
OPENSSH = "OpenSSH sftp-server, same container (ceiling)"
JUPYSSH = "jupyssh-sftp standalone"
BRIDGE = "jupyssh-sftp through jupyssh-bridge"
PARAMIKO = "minimal paramiko SFTP server, local disk"
CONTENTS = "plain Contents API, 1 MiB chunks (JupyterLab)"
_START_TIMEOUT = 60.0


def run(ctx: Context) -> None:
    images = prepare()
    samples = max(1, min(ctx.samples, 3))  # 256 MiB each way: the issue asks for one run
    with tempfile.TemporaryDirectory(prefix="js-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        keypair = generate_keypair(root)
        host_key = generate_host_key(root / "host-keys")
        source = root / "payload.bin"
        digest = _random_file(source, SIZE)
        authorized = root / "authorized_keys"
        authorized.write_text(keypair.public_line + "\n")
        authorized.chmod(0o600)
        container, token = jupyter_sshd_container(
            images["jupyter-sshd"].tag, keypair=keypair, host_key=host_key
        )
        with container:
            url = f"http://{LOOPBACK}:{published_port(container, JUPYTER_PORT)}/"
            _wait_for_jupyter(url, token)
            ssh_port = published_port(container, SSH_PORT)
            with (
                _server_process(_jupyssh_argv(url, authorized, root), token) as (jupyssh, j_line),
                _server_process(_paramiko_argv(root, authorized), None) as (stub, p_line),
                _server_process(_bridge_argv(url, authorized, root), token, announce="stderr") as (
                    bridge,
                    b_line,
                ),
            ):
                known_hosts = write_known_hosts(
                    root / "known_hosts", [(LOOPBACK, ssh_port, host_key.public_blob)]
                )
                with known_hosts.open("a") as handle:
                    handle.write(f"{j_line}\n{p_line}\n{b_line}\n")
                servers = {
                    OPENSSH: (ssh_port, lambda: _sftp_server_pids(container)),
                    JUPYSSH: (_port_of(j_line), lambda: [jupyssh.pid]),
                    BRIDGE: (_port_of(b_line), lambda: [bridge.pid]),
                    PARAMIKO: (_port_of(p_line), lambda: [stub.pid]),
                }
                rates = {}
                for variant, (port, pids) in servers.items():
                    rates[variant] = _measure_sftp(
                        ctx, variant, port, pids, keypair, known_hosts, source, digest, samples
                    )
                rates[CONTENTS] = _measure_contents(ctx, url, token, source, digest, samples)
    _targets(ctx, rates)


def _targets(ctx: Context, rates: dict[str, tuple[float, float]]) -> None:
    up_ceiling, down_ceiling = rates[OPENSSH]
    for variant, (up, down) in rates.items():
        ctx.note(
            f"{variant}: upload {up:.1f} MB/s ({up / up_ceiling:.2f} x OpenSSH), "
            f"download {down:.1f} MB/s ({down / down_ceiling:.2f} x OpenSSH)"
        )
    up, down = rates[JUPYSSH]
    ctx.target(
        "jupyssh-sftp download relative to OpenSSH", down / down_ceiling, 0.40, at_most=False
    )
    ctx.target("jupyssh-sftp upload relative to OpenSSH", up / up_ceiling, 0.25, at_most=False)
    ctx.target(
        "jupyssh-sftp upload relative to the plain Contents upload",
        up / rates[CONTENTS][0],
        1.0,
        at_most=False,
    )
    ctx.note(
        "OpenSSH's sftp -b (its defaults: 64 requests in flight; 255 KiB each with "
        "limits@openssh.com, which jupyssh-sftp and sftp-server advertise and the minimal "
        "paramiko server does not), 256 MiB of random bytes, checked by sha256 both ways"
    )


def _measure_sftp(  # noqa: PLR0917 - one variant's facts
    ctx: Context,
    variant: str,
    port: int,
    pids: Callable[[], list[int]],
    keypair: KeyPair,
    known_hosts: Path,
    source: Path,
    digest: str,
    samples: int,
) -> tuple[float, float]:
    argv = [
        *pinned_argv("sftp", known_hosts, keypair.private_key, port=port),
        "-b",
        "-",
        "sandbox@127.0.0.1",
    ]
    back = source.with_name("back.bin")
    name = f"bench-{secrets.token_hex(4)}.bin"
    ups: list[float] = []
    downs: list[float] = []
    peak = 0
    for _ in range(samples):
        with _PeakRSS(pids) as rss:
            ups.append(_timed(lambda: _batch(argv, f"put {source} {name}\n")))
            downs.append(_timed(lambda: _batch(argv, f"get {name} {back}\n")))
        peak = max(peak, rss.peak)
        if _sha256(back) != digest:
            raise RuntimeError(f"{variant}: the file came back different")
        back.unlink()
    _batch(argv, f"rm {name}\n")
    up = ctx.record(
        "upload 256 MiB", variant, [SIZE / 1e6 / s for s in ups], unit="MB/s", lower_is_better=False
    )
    down = ctx.record(
        "download 256 MiB",
        variant,
        [SIZE / 1e6 / s for s in downs],
        unit="MB/s",
        lower_is_better=False,
    )
    ctx.record("peak server RSS", variant, [peak / 1e6], unit="MB")
    return up.median, down.median


def _measure_contents(  # noqa: PLR0917 - one variant's facts
    ctx: Context, url: str, token: str, source: Path, digest: str, samples: int
) -> tuple[float, float]:
    """JupyterLab's way: the whole file in memory, PUT in 1 MiB chunks; GET ``/files/``."""
    data = source.read_bytes()
    back = source.with_name("back.bin")

    async def transfer() -> tuple[list[float], list[float]]:
        ups, downs = [], []
        async with JupyterClient(url, token=token, timeout=120) as client:
            for _ in range(samples):
                start = time.perf_counter()
                await client.save_file("contents-bench.bin", data, chunk_size=MiB)
                ups.append(time.perf_counter() - start)
                start = time.perf_counter()
                with back.open("wb") as sink:
                    async for piece in client.download("contents-bench.bin"):
                        sink.write(piece)
                downs.append(time.perf_counter() - start)
            await client.delete("contents-bench.bin")
        return ups, downs

    ups, downs = asyncio.run(transfer())
    if _sha256(back) != digest:
        raise RuntimeError("the Contents API download came back different")
    up = ctx.record(
        "upload 256 MiB",
        CONTENTS,
        [SIZE / 1e6 / s for s in ups],
        unit="MB/s",
        lower_is_better=False,
    )
    down = ctx.record(
        "download 256 MiB",
        CONTENTS,
        [SIZE / 1e6 / s for s in downs],
        unit="MB/s",
        lower_is_better=False,
        note="GET /files/ streamed",
    )
    return up.median, down.median


# --- processes and containers ---------------------------------------------------------------


def _wait_for_jupyter(url: str, token: str) -> None:
    async def ready() -> bool:
        async with JupyterClient(url, token=token, timeout=5) as client:
            try:
                await client.status()
            except Exception:  # noqa: BLE001 - not up yet, whatever the reason
                return False
            return True

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if asyncio.run(ready()):
            return
        time.sleep(0.5)
    raise RuntimeError("the Jupyter server in the container did not come up")


def _jupyssh_argv(url: str, authorized: Path, root: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("jupyssh")),
        "sftp",
        "serve",
        "--jupyter-url",
        url,
        "--listen",
        "127.0.0.1:0",
        "--authorized-keys",
        str(authorized),
        "--host-key",
        str(root / "jupyssh_host_key"),
    ]


def _bridge_argv(url: str, authorized: Path, root: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("jupyssh")),
        "bridge",
        "serve",
        "--jupyter-url",
        url,
        "--listen",
        "127.0.0.1:0",
        "--authorized-keys",
        str(authorized),
        "--host-key",
        str(root / "bridge_host_key"),
    ]


def _paramiko_argv(root: Path, authorized: Path) -> list[str]:
    disk = root / "local-disk"
    disk.mkdir()
    return [
        sys.executable,
        __file__,
        "serve-local-disk",
        str(disk),
        str(authorized),
        str(root / "paramiko_host_key"),
    ]


@contextlib.contextmanager
def _server_process(
    argv: list[str], token: str | None, *, announce: str = "stdout"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a server that prints ``known_hosts: <line>`` on ``announce`` (stdout or
    stderr) once it listens; stop it after."""
    env = {**os.environ, **({"JUPYTER_TOKEN": token} if token else {})}
    piped = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, announce: subprocess.PIPE}
    with subprocess.Popen(
        argv,
        stdout=piped["stdout"],
        stderr=piped["stderr"],
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            stream = process.stdout if announce == "stdout" else process.stderr
            assert stream is not None
            line = _known_hosts_line(stream, argv)
            # keep the pipe drained: a server blocked on a full pipe would stall the transfer
            threading.Thread(target=stream.read, daemon=True).start()
            yield process, line
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _known_hosts_line(stream: IO[str], argv: list[str]) -> str:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.startswith("known_hosts: "):
            return line.removeprefix("known_hosts: ").strip()
    raise RuntimeError(f"{argv!r} did not start")


def _port_of(known_hosts_line: str) -> int:
    return int(known_hosts_line.split(maxsplit=1)[0].rpartition(":")[2])


def _sftp_server_pids(container: DockerContainer) -> list[int]:
    """The container's sftp-server processes, seen from the host (same kernel)."""
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    init = psutil.Process(int(wrapped.attrs["State"]["Pid"]))
    return [p.pid for p in init.children(recursive=True) if p.name() == "sftp-server"]


class _PeakRSS:
    """The largest summed RSS of the processes ``pids()`` names, sampled every 50 ms."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(psutil.Error):
                self._sample()

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _batch(argv: list[str], commands: str) -> None:
    subprocess.run(argv, input=commands, text=True, capture_output=True, timeout=900, check=True)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // (8 * MiB)):
            piece = os.urandom(8 * MiB)
            handle.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(8 * MiB):
            digest.update(piece)
    return digest.hexdigest()


# --- the minimal paramiko SFTP server over a local disk (its own process) --------------------


def _serve_local_disk(root: str, authorized_keys: str, host_key: str) -> None:
    """paramiko's own stub interface (tests/_stub_sftp.py, trimmed) on a local folder,
    served by ``jupyssh.core.server`` with plain ``paramiko.SFTPServer``."""
    import paramiko
    from paramiko.common import OPEN_SUCCEEDED

    from jupyssh.core.server import ServerConfig, ServerPolicy, SSHServer

    class Handle(paramiko.SFTPHandle):
        readfile: Any
        writefile: Any

        def stat(self) -> Any:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    class Disk(paramiko.SFTPServerInterface):
        def _local(self, path: str) -> str:
            return os.path.join(root, self.canonicalize(path).lstrip("/"))

        def stat(self, path: str) -> Any:
            try:
                return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno or 0)

        lstat = stat

        def canonicalize(self, path: str) -> str:
            return os.path.normpath("/" + path)

        def remove(self, path: str) -> int:
            os.remove(self._local(path))
            return paramiko.sftp.SFTP_OK

        def open(self, path: str, flags: int, attr: Any) -> Any:
            try:
                fd = os.open(self._local(path), flags, 0o644)
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno or 0)
            mode = "rb" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else "r+b"
            handle = Handle(flags)
            handle.readfile = handle.writefile = os.fdopen(fd, mode)
            return handle

    class Policy(ServerPolicy):
        allowed_subsystems = frozenset({"sftp"})

        def check_channel_request(self, kind: str, chanid: int) -> int:
            return (
                OPEN_SUCCEEDED if kind == "session" else super().check_channel_request(kind, chanid)
            )

    class Server(SSHServer):
        policy_class = Policy

        def on_transport(self, transport: paramiko.Transport, connection: Any) -> None:
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, Disk)

    config = ServerConfig(host_key=Path(host_key), authorized_keys=Path(authorized_keys))
    with Server(config) as server:
        print(f"known_hosts: {server.known_hosts_line()}", flush=True)
        server.serve_forever(handle_signals=True)


if __name__ == "__main__" and sys.argv[1:2] == ["serve-local-disk"]:
    _serve_local_disk(*sys.argv[2:5])
