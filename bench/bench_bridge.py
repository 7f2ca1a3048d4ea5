"""jupyssh-bridge against OpenSSH's sshd in the same container (the ceiling).

One ``containers/jupyter-sshd`` container runs both an sshd and a Jupyter server. Measured
through OpenSSH's ``ssh`` (aes128-gcm): a 256 MB stream to the client (``head -c … /dev/zero``
on exec) and keystroke echo latency (200 single bytes through a PTY, cooked-mode echo of
``cat``), for sshd, the bridge with the compiled reader shipped into the kernel, and the
bridge with the pure reader, and the bridge's terminals backend (``--backend terminals``:
the shell is a terminal of the server's terminals API); and the kernel's CPU seconds per MB
for the two readers.

The terminals backend serves only interactive shells (a PTY and no command), so its rows
are measured through a shell: echo into ``cat`` started from the shell's prompt, and a
separate throughput metric, "256 MB of text through a shell's PTY", in which the kernel
bridge and sshd run the same shell script for comparison (text, because terminado sends
UTF-8 text: NUL bytes would travel as six-byte JSON escapes).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import Context
from jupyssh_harness import TEST_LABEL, KeyPair, generate_keypair, prepare, write_known_hosts
from jupyssh_harness.containers import (
    JUPYTER_PORT,
    LOOPBACK,
    SSH_PORT,
    exec_in,
    published_port,
    ssh_container,
)
from jupyssh_harness.keys import generate_host_key
from testcontainers.core.container import DockerContainer

from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig

SIZE = 256 * 1024 * 1024
KEYSTROKES = 200
SSHD = "OpenSSH sshd, same container (ceiling)"
COMPILED = "bridge, compiled reader"
PURE = "bridge, pure reader"
TERMINALS = "bridge, terminals backend"
#: The shell script streaming SIZE bytes of text to the terminal; ``END`` marks its end
#: (split by quotes so the echoed command line does not contain it).
STREAM_SCRIPT = f"head -c {SIZE} /dev/zero | tr '\\0' x; echo; echo E''ND\n"


def run(ctx: Context) -> None:
    images = prepare()
    with tempfile.TemporaryDirectory(prefix="jb-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        keypair = generate_keypair(root)
        host_key = generate_host_key(root / "host-keys")
        with _container(images["jupyter-sshd"].tag, keypair, host_key) as (container, token):
            url = f"http://{LOOPBACK}:{published_port(container, JUPYTER_PORT)}/"
            _wait(lambda: _answers(url, token))
            entries = [(LOOPBACK, published_port(container, SSH_PORT), host_key.public_blob)]
            with (
                _bridge(url, token, keypair, root, ship_compiled=True) as compiled,
                _bridge(url, token, keypair, root, ship_compiled=False) as pure,
                _bridge(url, token, keypair, root, ship_compiled=True, terminals=True) as term,
            ):
                entries += [
                    (LOOPBACK, compiled.address[1], _blob_of(compiled)),
                    (LOOPBACK, pure.address[1], _blob_of(pure)),
                    (LOOPBACK, term.address[1], _blob_of(term)),
                ]
                known_hosts = write_known_hosts(root / "known_hosts", entries)
                targets = {
                    SSHD: _ssh(keypair, known_hosts, published_port(container, SSH_PORT)),
                    COMPILED: _ssh(keypair, known_hosts, compiled.address[1]),
                    PURE: _ssh(keypair, known_hosts, pure.address[1]),
                }
                _measure(ctx, container, targets, {COMPILED: compiled, PURE: pure})
                shells = {
                    SSHD: targets[SSHD],
                    COMPILED: targets[COMPILED],
                    TERMINALS: _ssh(keypair, known_hosts, term.address[1]),
                }
                _measure_shells(ctx, shells)


def _measure(
    ctx: Context,
    container: DockerContainer,
    targets: dict[str, list[str]],
    bridges: dict[str, BridgeServer],
) -> None:
    samples = max(3, min(ctx.samples, 5))
    rates: dict[str, float] = {}
    for variant, ssh in targets.items():
        seconds = ctx.measure(lambda ssh=ssh: _stream(ssh), n=samples)  # type: ignore[misc]
        figure = ctx.record(
            "256 MB to the client",
            variant,
            [SIZE / 1e6 / s for s in seconds],
            unit="MB/s",
            lower_is_better=False,
        )
        rates[variant] = figure.median
    for variant, ssh in targets.items():
        latencies = _echo(ssh)
        figure = ctx.record("keystroke echo", variant, [s * 1000 for s in latencies], unit="ms")
        if variant != SSHD:
            ctx.target(f"echo p99 under 10 ms ({variant})", _p99(latencies) * 1000, 10.0, unit="ms")
        ctx.note(f"{variant}: echo p50 {figure.median:.2f} ms, p99 {_p99(latencies) * 1000:.2f} ms")
    cpu: dict[str, float] = {}
    for variant in (COMPILED, PURE):
        cpu[variant] = _kernel_cpu_per_mb(container, targets[variant], bridges[variant])
        ctx.record("kernel CPU per MB", variant, [cpu[variant]], unit="s/MB")
    ctx.target(
        "compiled reader CPU per MB relative to the pure reader",
        cpu[COMPILED] / cpu[PURE],
        0.5,
    )
    ctx.target(
        "bridge throughput relative to sshd (compiled reader)",
        rates[COMPILED] / rates[SSHD],
        1.0,
        at_most=False,
    )
    ctx.note(
        "throughput: `ssh -T host head -c 256MiB /dev/zero` with stdout to /dev/null, "
        "aes128-gcm; echo: one byte at a time into `cat` on a PTY, time to its echo"
    )


def _measure_shells(ctx: Context, targets: dict[str, list[str]]) -> None:
    """The terminals backend beside the kernel bridge and sshd, all through a shell."""
    samples = max(3, min(ctx.samples, 5))
    for variant, ssh in targets.items():
        seconds = ctx.measure(lambda ssh=ssh: _shell_stream(ssh), n=samples)  # type: ignore[misc]
        ctx.record(
            "256 MB of text through a shell's PTY",
            variant,
            [SIZE / 1e6 / s for s in seconds],
            unit="MB/s",
            lower_is_better=False,
        )
    latencies = _echo(targets[TERMINALS], command=None)
    figure = ctx.record("keystroke echo", TERMINALS, [s * 1000 for s in latencies], unit="ms")
    ctx.target(f"echo p99 under 10 ms ({TERMINALS})", _p99(latencies) * 1000, 10.0, unit="ms")
    ctx.note(f"{TERMINALS}: echo p50 {figure.median:.2f} ms, p99 {_p99(latencies) * 1000:.2f} ms")
    ctx.note(
        "shell throughput: `ssh -tt host` (no command), then the shell runs "
        f"`head -c {SIZE} /dev/zero | tr '\\0' x`; time until its end marker arrives"
    )


def _shell_stream(ssh: list[str]) -> None:
    """Type :data:`STREAM_SCRIPT` into an interactive shell; return once all arrived."""
    proc = subprocess.Popen(
        [*ssh, "-tt", "sandbox@127.0.0.1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(STREAM_SCRIPT.encode())
        proc.stdin.flush()
        _read_until(proc.stdout.fileno(), b"END\r\n", timeout=600)
    finally:
        _end_shell(proc)


def _end_shell(proc: subprocess.Popen[bytes]) -> None:
    """End ``cat`` or the shell (newline, Ctrl+D), then ssh; kill it after 30 s."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(b"\n\x04")
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
    proc.stdout.close()


def _stream(ssh: list[str]) -> None:
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [*ssh, "-T", "sandbox@127.0.0.1", f"head -c {SIZE} /dev/zero"],
            stdout=sink,
            stdin=subprocess.DEVNULL,
            check=True,
            timeout=600,
        )


def _echo(ssh: list[str], command: str | None = "echo READY; exec cat") -> list[float]:
    """Seconds from writing one byte to ``ssh -tt`` until the PTY's echo comes back.

    With ``command`` ``None`` the client asks for a shell and types the same command
    into it (the terminals backend serves only shells)."""
    proc = subprocess.Popen(
        [*ssh, "-tt", "sandbox@127.0.0.1", *([] if command is None else [command])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    try:
        if command is None:
            proc.stdin.write(b"echo RE''ADY; exec cat\n")
            proc.stdin.flush()
        _read_until(out, b"READY\r\n")
        latencies = []
        for i in range(KEYSTROKES):
            key = bytes([ord("a") + i % 26])
            started = time.perf_counter()
            proc.stdin.write(key)
            proc.stdin.flush()
            _read_until(out, key)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        _end_shell(proc)


def _read_until(fd: int, wanted: bytes, timeout: float = 60.0) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError(f"no {wanted!r} from ssh within {timeout} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise EOFError("ssh ended early")
        seen = (seen + chunk)[-64:]


def _kernel_cpu_per_mb(container: DockerContainer, ssh: list[str], bridge: BridgeServer) -> float:
    """Kernel process CPU seconds per MB streamed (one 256 MB transfer on one connection,
    started by a first command so the kernel is known before the stream)."""
    proc = subprocess.Popen(
        [*ssh, "-T", "sandbox@127.0.0.1", f"read go; head -c {SIZE} /dev/zero"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    try:
        _wait(lambda: any(s.kernel_pid for s in bridge.sessions))
        pid = next(s.kernel_pid for s in bridge.sessions if s.kernel_pid)
        assert pid is not None
        before = _process_cpu(container, pid)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        proc.wait(timeout=600)
        after = _process_cpu(container, pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    return (after - before) / (SIZE / 1e6)


def _process_cpu(container: DockerContainer, pid: int) -> float:
    stat = exec_in(container, ["cat", f"/proc/{pid}/stat"]).stdout
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _ssh(keypair: KeyPair, known_hosts: Path, port: int) -> list[str]:
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "Ciphers=aes128-gcm@openssh.com",
        "-o",
        "ControlPath=none",
        "-i",
        str(keypair.private_key),
        "-p",
        str(port),
    ]


@contextlib.contextmanager
def _container(
    image: str, keypair: KeyPair, host_key: KeyPair
) -> Iterator[tuple[DockerContainer, str]]:
    token = secrets.token_hex(24)
    container = (
        ssh_container(
            image,
            authorized_key=keypair.public_line,
            host_keys_dir=host_key.private_key.parent,
            role_label=TEST_LABEL,
        )
        .with_env("JUPYTER_TOKEN", token)
        .with_env("JUPYTER_IP", "0.0.0.0")  # noqa: S104 - inside the container
        .with_exposed_ports(JUPYTER_PORT)
    )
    with container:
        yield container, token


@contextlib.contextmanager
def _bridge(
    url: str,
    token: str,
    keypair: KeyPair,
    root: Path,
    *,
    ship_compiled: bool,
    terminals: bool = False,
) -> Iterator[BridgeServer]:
    name = "terminals" if terminals else "compiled" if ship_compiled else "pure"
    authorized = root / f"authorized_keys-{name}"
    authorized.write_text(keypair.public_line + "\n")
    authorized.chmod(0o600)
    config = ServerConfig(host_key=root / f"bridge-key-{name}", authorized_keys=authorized)
    client = JupyterClient(url, token=token)
    server = BridgeServer(
        client,
        config,
        BridgeConfig(
            ship_compiled=ship_compiled, sftp=False, backend="terminals" if terminals else "kernel"
        ),
    )
    with server:
        server.start()
        yield server


def _blob_of(server: BridgeServer) -> str:
    return f"{server.host_key.get_name()} {server.host_key.get_base64()}"


def _answers(url: str, token: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}api/status", headers={"Authorization": f"token {token}"}).is_success
    except httpx.HTTPError:
        return False


def _wait(predicate: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("not ready in time")
        time.sleep(0.2)
