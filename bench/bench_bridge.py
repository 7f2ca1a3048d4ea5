"""jupyssh-bridge against OpenSSH's sshd in the same container (the ceiling).

One ``containers/jupyter-sshd`` container runs both an sshd and a Jupyter server. Measured
through OpenSSH's ``ssh`` (aes128-gcm), for sshd, the bridge with the compiled reader
shipped into the kernel, and the bridge with the pure reader:

- a 256 MB stream to the client (``head -c … /dev/zero`` on exec), MB/s, and its ratio
  to sshd's;
- 256 MB through ``ssh -L`` (sshd and the compiled bridge) from a source on the
  container's loopback, its ratio to sshd's against the exec stream's (the issue's
  target), 256 MB sent the other way, and forwarded connections opened per second
  through one ``-L``;
- keystroke echo latency: 200 single bytes through a PTY, each timed until ``cat``'s
  cooked-mode echo comes back;
- where a 256 MB stream's CPU goes, per process: the ssh client, the bridge (this
  process), docker's userland proxy, the Jupyter server, the kernel, and the rest of the
  container (sshd, or the producer ``head``); and the readers' own CPU per MB (CPU time
  the agent's reader threads spent inside ``Reader.read``), which is what the two reader
  implementations differ in.

The bridge's terminals backend (``--backend terminals``: the shell is a terminal of the
server's terminals API) serves only interactive shells (a PTY and no command), so its
rows are measured through a shell: echo into ``cat`` started from the shell's prompt, and
a separate throughput metric, "256 MB of text through a shell's PTY", in which the kernel
bridge and sshd run the same shell script for comparison (text, because terminado sends
UTF-8 text: NUL bytes would travel as six-byte JSON escapes).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import pty
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from _common import ContainerCgroup, Context, cmdline, cpu_of, end_shell, read_until
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

from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.bridge.session import KernelSession
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig

SIZE = 256 * 1024 * 1024
#: Bytes streamed through a PTY for the readers' CPU there (a PTY moves a few tens of MB/s).
PTY_SIZE = 64 * 1024 * 1024
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
        container, token = jupyter_sshd_container(
            images["jupyter-sshd"].tag, keypair=keypair, host_key=host_key
        )
        with container:
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
                _readers_alone(ctx)
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
    _throughput(ctx, targets)
    _forwarding(ctx, {SSHD: targets[SSHD], COMPILED: targets[COMPILED]})
    _echo_latency(ctx, targets)
    _cpu_profile(ctx, container, targets, bridges)


def _readers_alone(ctx: Context) -> None:
    """Each reader in this process, reading ``head -c … /dev/zero`` from a 1 MiB pipe (as
    the agent makes them) and from a PTY, with the agent's settings: CPU ms per MB inside
    ``Reader.read``, without the kernel's other threads competing for the GIL."""
    from jupyssh.bridge import _reader_py, agent

    modules = {COMPILED: importlib.import_module("jupyssh.bridge._reader"), PURE: _reader_py}
    for source, size in (("pipe", SIZE), ("PTY", PTY_SIZE)):
        for variant, module in modules.items():
            spent = [_read_alone(module, source, size, agent) for _ in range(3)]
            ctx.record(
                f"reader alone, {source}: CPU per MB",
                variant,
                [seconds * 1000 / (size / 1e6) for seconds in spent],
                unit="ms/MB",
            )
    ctx.note(
        "reader alone: the reader in this process on `head -c` output (512 KiB chunks, "
        "1 ms window), CPU time of its thread inside Reader.read"
    )


def _read_alone(module: Any, source: str, size: int, agent: Any) -> float:
    """CPU seconds one reader spends reading ``size`` bytes from ``source``."""
    argv = ["head", "-c", str(size), "/dev/zero"]
    if source == "PTY":
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            argv, stdout=slave, stdin=subprocess.DEVNULL, start_new_session=True
        )
        os.close(slave)
        fd = master
    else:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, agent.PIPE_SIZE)
    reader = module.Reader(fd, agent.MAX_CHUNK, agent.COALESCE_WINDOW, agent.EAGER_BELOW)
    spent = 0.0
    total = 0
    try:
        while total < size:
            started = time.thread_time()
            data = reader.read(10.0)
            spent += time.thread_time() - started
            if not data:
                break
            total += len(data)
    finally:
        proc.wait(timeout=60)
        if source == "PTY":
            os.close(fd)
        elif proc.stdout is not None:
            proc.stdout.close()
    if total != size:
        raise RuntimeError(f"the reader returned {total} bytes of {size}")
    return spent


def _throughput(ctx: Context, targets: dict[str, list[str]]) -> None:
    samples = max(3, min(ctx.samples, 5))
    rates: dict[str, list[float]] = {}
    for variant, ssh in targets.items():
        seconds = ctx.measure(lambda ssh=ssh: _stream(ssh), n=samples)  # type: ignore[misc]
        rates[variant] = [SIZE / 1e6 / s for s in seconds]
        ctx.record(
            "256 MB to the client", variant, rates[variant], unit="MB/s", lower_is_better=False
        )
    _relative_to_sshd(ctx, "throughput relative to sshd", rates, (COMPILED, PURE))
    ctx.note(
        "throughput: `ssh -T host head -c 256MiB /dev/zero` with stdout to /dev/null, "
        "aes128-gcm; the ratio divides each sample by sshd's median"
    )


def _relative_to_sshd(
    ctx: Context, metric: str, rates: dict[str, list[float]], variants: tuple[str, ...]
) -> None:
    """Each variant's samples divided by sshd's median."""
    ceiling = statistics.median(rates[SSHD])
    for variant in variants:
        ctx.record(
            metric,
            variant,
            [rate / ceiling for rate in rates[variant]],
            unit="ratio",
            lower_is_better=False,
        )


#: Where the forwarding rows' source listens in the container: on ``.`` each connection
#: gets SIZE bytes and is closed; on ``<`` it reads to the client's EOF and answers with
#: the count; ``?``: one byte, for the connection rate.
FORWARD_PORT = 18766
FORWARD_SOURCE = f"""
import socket, threading
server = socket.create_server(("127.0.0.1", {FORWARD_PORT}), backlog=128)
block = b"x" * (1 << 20)
def one(conn):
    with conn:
        first = conn.recv(1)
        if first == b"?":
            conn.sendall(b"!")
            return
        if first == b"<":
            received = 0
            while chunk := conn.recv(1 << 20):
                received += len(chunk)
            conn.sendall(str(received).encode())
            return
        for _ in range({SIZE} >> 20):
            conn.sendall(block)
while True:
    threading.Thread(target=one, args=(server.accept()[0],), daemon=True).start()
"""
#: Connections opened one after another through one ``ssh -L`` for the connection rate.
FORWARD_CONNECTIONS = 200
#: The forward's client, run as a process of its own: in this process it would compete
#: for the GIL with the bridges (which run here), as no real client does, and the exec
#: rows' client (``ssh`` writing to /dev/null) is a process of its own too. ``pull PORT
#: SIZE``: the seconds from connecting until SIZE bytes and the EOF came; ``connections
#: PORT N``: connections opened per second, N in a row, each a one-byte request and
#: answer; ``push PORT SIZE``: the seconds from connecting until SIZE bytes were sent
#: and the source counted them.
FORWARD_CLIENT = """
import socket, sys, time
mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def one():
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"?")
        return conn.recv(1) == b"!"
started = time.perf_counter()
if mode == "pull":
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(b".")
        while chunk := conn.recv(1 << 20):
            received += len(chunk)
    if received != count:
        sys.exit(f"ssh -L delivered {received} of {count} bytes")
    print(time.perf_counter() - started)
elif mode == "push":
    block = b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(b"<")
        for _ in range(count >> 20):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        counted = int(conn.recv(64) or b"0")
    if counted != (count >> 20 << 20):
        sys.exit(f"ssh -L carried {counted} of {count} bytes to the source")
    print(time.perf_counter() - started)
else:
    for _ in range(count):
        if not one():
            sys.exit("a forwarded connection failed")
    print(count / (time.perf_counter() - started))
"""


def _forwarding(ctx: Context, targets: dict[str, list[str]]) -> None:
    """256 MB through ``ssh -L`` and forwarded connections per second, sshd beside the
    bridge (the same source on the container's loopback, started through sshd); the
    issue's target: the bridge's ``-L`` throughput relative to sshd's at least its exec
    stream's, measured in this run."""
    subprocess.run(
        [
            *targets[SSHD],
            "-T",
            "sandbox@127.0.0.1",
            # a background job's stdin is /dev/null: the script goes to a file first
            "f=$(mktemp) && cat > $f && (nohup python3 $f >/dev/null 2>&1 &)",
        ],
        input=FORWARD_SOURCE.encode(),
        check=True,
        timeout=60,
    )
    samples = max(3, min(ctx.samples, 5))
    rates: dict[str, list[float]] = {}
    for variant, ssh in targets.items():
        with _local_forward(ssh) as port:
            _client("pull", port, SIZE)  # warm-up, not recorded
            seconds = [_client("pull", port, SIZE) for _ in range(samples)]
            rates[variant] = [SIZE / 1e6 / s for s in seconds]
            ctx.record(
                "256 MB through ssh -L", variant, rates[variant], unit="MB/s", lower_is_better=False
            )
            pushed = [_client("push", port, SIZE) for _ in range(samples)]
            ctx.record(
                "256 MB sent through ssh -L (client to the Jupyter host)",
                variant,
                [SIZE / 1e6 / s for s in pushed],
                unit="MB/s",
                lower_is_better=False,
            )
            opened = [_client("connections", port, FORWARD_CONNECTIONS) for _ in range(samples)]
            ctx.record(
                "forwarded connections opened",
                variant,
                opened,
                unit="conn/s",
                lower_is_better=False,
            )
    _relative_to_sshd(ctx, "ssh -L throughput relative to sshd", rates, (COMPILED,))
    forward = ctx.figure("ssh -L throughput relative to sshd", COMPILED).median
    stream = ctx.figure("throughput relative to sshd", COMPILED).median
    ctx.target(
        "ssh -L throughput relative to sshd, at least the exec stream's (compiled reader)",
        forward,
        stream,
        unit="x",
        at_most=False,
    )
    ctx.note(
        f"forwarding: `ssh -N -L` to a source on the container's loopback, {SIZE >> 20} MiB "
        f"read per sample by a client process of its own (timed from its connect to the "
        f"EOF), or sent (until the source's count came back); connections: "
        f"{FORWARD_CONNECTIONS} in a row, each a one-byte request and answer, through one "
        "ssh -L"
    )


@contextlib.contextmanager
def _local_forward(ssh: list[str]) -> Iterator[int]:
    """``ssh -N -L PORT:127.0.0.1:FORWARD_PORT``, up and answering; yields PORT."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [
            *ssh,
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"{LOOPBACK}:{port}:127.0.0.1:{FORWARD_PORT}",
            "sandbox@127.0.0.1",
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: proc.poll() is None and _one_connection(port))
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # ssh was seen to outlive a SIGTERM by 30 s
            proc.kill()
            proc.wait(timeout=30)


def _one_connection(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=30) as conn:
            conn.sendall(b"?")
            return conn.recv(1) == b"!"
    except OSError:
        return False


def _client(mode: str, port: int, count: int) -> float:
    """Run :data:`FORWARD_CLIENT` in ``mode``; the figure it prints."""
    done = subprocess.run(
        [sys.executable, "-c", FORWARD_CLIENT, mode, str(port), str(count)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the forward's client failed: {done.stderr.strip()}")
    return float(done.stdout)


def _echo_latency(ctx: Context, targets: dict[str, list[str]]) -> None:
    for variant, ssh in targets.items():
        latencies = _echo(ssh)
        figure = ctx.record("keystroke echo", variant, [s * 1000 for s in latencies], unit="ms")
        p99 = _p99(latencies) * 1000
        ctx.record("keystroke echo p99", variant, [p99], unit="ms")
        if variant != SSHD:
            ctx.target(f"echo p99 under 10 ms ({variant})", p99, 10.0, unit="ms")
        ctx.note(f"{variant}: echo p50 {figure.median:.2f} ms, p99 {p99:.2f} ms")
    ctx.note("echo: one byte at a time into `cat` on a PTY, time until its echo is read")


#: The parts of a stream's path whose CPU the profile reports, in the table's order.
PARTS = (
    "ssh client",
    "bridge process",
    "docker-proxy",
    "Jupyter server",
    "kernel (its own threads)",
    "rest of the container",
)


def _cpu_profile(
    ctx: Context,
    container: DockerContainer,
    targets: dict[str, list[str]],
    bridges: dict[str, BridgeServer],
) -> None:
    """CPU ms per MB of a 256 MB stream, per process; the readers' own CPU per MB."""
    samples = 3
    reader: dict[str, list[float]] = {COMPILED: [], PURE: []}
    kernel: dict[str, list[float]] = {COMPILED: [], PURE: []}
    for variant, ssh in targets.items():
        parts: dict[str, list[float]] = {part: [] for part in PARTS}
        for _ in range(samples):
            spent, session = _profile_stream(container, ssh, bridges.get(variant))
            for part in PARTS:
                parts[part].append(spent.get(part, 0.0) * 1000 / (SIZE / 1e6))
            if session is not None:
                reader[variant].append(session.reader_cpu * 1000 / (session.reader_bytes / 1e6))
                kernel[variant].append(parts["kernel (its own threads)"][-1])
        for part in PARTS:
            ctx.record(f"CPU per MB: {part}", variant, parts[part], unit="ms/MB")
        total = [sum(values) for values in zip(*parts.values(), strict=True)]
        ctx.record("CPU per MB: all of the above", variant, total, unit="ms/MB")
    pty: dict[str, list[float]] = {
        variant: [_pty_reader_cpu(targets[variant], bridges[variant]) for _ in range(samples)]
        for variant in (COMPILED, PURE)
    }
    for variant in (COMPILED, PURE):
        ctx.record(
            "reader CPU per MB, pipes (in Reader.read)", variant, reader[variant], unit="ms/MB"
        )
        ctx.record("reader CPU per MB, PTY (in Reader.read)", variant, pty[variant], unit="ms/MB")
    for name, figures in (("pipes", reader), ("PTY", pty)):
        ratio = statistics.median(figures[COMPILED]) / statistics.median(figures[PURE])
        ctx.target(f"compiled reader CPU per MB relative to the pure reader ({name})", ratio, 0.5)
    whole = statistics.median(kernel[COMPILED]) / statistics.median(kernel[PURE])
    ctx.note(
        f"the whole kernel's CPU per MB (its own threads: reading, framing and sending the "
        f"comm messages) compiled/pure {whole:.2f}; reader CPU on a PTY: "
        f"`ssh -tt host 'head -c {PTY_SIZE // 2**20}MiB /dev/zero'`"
    )
    ctx.note(
        "CPU profile: one `ssh -T host 'read go; head -c 256MiB /dev/zero'` per sample, "
        "CPU seconds per process between `go` and ssh's exit; bridge process = this "
        "benchmark's process (RUSAGE_SELF: the bridges run in it), rest of the container = "
        "its cgroup's CPU minus the server's and the kernel's (sshd, bash, head)"
    )


def _new_session(bridge: BridgeServer, before: set[KernelSession]) -> KernelSession:
    """The session of the connection just made (not one of ``before``, which may still be
    closing), once its kernel is known."""

    def found() -> KernelSession | None:
        return next((s for s in bridge.sessions if s not in before and s.kernel_pid), None)

    _wait(lambda: found() is not None)
    session = found()
    assert session is not None
    return session


@contextlib.contextmanager
def _held_stream(
    ssh: list[str], size: int, bridge: BridgeServer | None, *, tty: bool = False
) -> Iterator[tuple[KernelSession | None, Callable[[], None]]]:
    """``ssh host 'read go; head -c SIZE /dev/zero'``, held at ``read go``: yields the
    bridge's session for it (``None`` through sshd, which has none) and ``go``, which lets
    the stream run and waits for ssh to exit."""
    before = set(bridge.sessions) if bridge is not None else set()
    proc = subprocess.Popen(
        [*ssh, "-tt" if tty else "-T", "sandbox@127.0.0.1", f"read go; head -c {size} /dev/zero"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stdin = proc.stdin
    assert stdin is not None

    def go() -> None:
        stdin.write(b"go\n")
        stdin.close()
        proc.wait(timeout=600)

    try:
        yield (_new_session(bridge, before) if bridge is not None else None), go
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if not stdin.closed:
            stdin.close()


def _pty_reader_cpu(ssh: list[str], bridge: BridgeServer) -> float:
    """The readers' CPU ms per MB for :data:`PTY_SIZE` bytes through a PTY (one
    connection: its session counts what its channel's reader spent)."""
    with _held_stream(ssh, PTY_SIZE, bridge, tty=True) as (session, go):
        assert session is not None
        go()
    _wait(lambda: session.reader_bytes >= PTY_SIZE)
    return session.reader_cpu * 1000 / (session.reader_bytes / 1e6)


def _profile_stream(
    container: DockerContainer, ssh: list[str], bridge: BridgeServer | None
) -> tuple[dict[str, float], KernelSession | None]:
    """One 256 MB stream; CPU seconds of each part of its path, and the bridge's session
    (for its readers' figures) when it went through a bridge."""
    with _held_stream(ssh, SIZE, bridge) as (session, go):
        before = _cpu_snapshot(container, session)
        go()
        after = _cpu_snapshot(container, session)
    spent = {part: after[part] - before[part] for part in after}
    spent["rest of the container"] = (
        spent.pop("container")
        - spent.get("Jupyter server", 0.0)
        - spent.get("kernel (its own threads)", 0.0)
    )
    if bridge is None:
        spent.pop("bridge process")
    return spent, session


def _cpu_snapshot(container: DockerContainer, session: KernelSession | None) -> dict[str, float]:
    """Cumulative CPU seconds of each part now, all read from the host (a ``docker exec``
    would itself spend CPU in the container). ``ssh client``: this process's reaped
    children, so the client counts once it has exited."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    cgroup = ContainerCgroup(container)
    pids = cgroup.pids()
    snapshot = {
        "ssh client": children.ru_utime + children.ru_stime,
        "bridge process": own.ru_utime + own.ru_stime,
        "docker-proxy": cpu_of(
            p for p in psutil.process_iter(["name"]) if p.info["name"] == "docker-proxy"
        ),
        "container": cgroup.cpu_seconds(),
        "Jupyter server": cpu_of(
            p for p in pids.values() if any("jupyter-server" in a for a in cmdline(p))
        ),
    }
    if session is not None and session.kernel_pid in pids:
        snapshot["kernel (its own threads)"] = cpu_of([pids[session.kernel_pid]])
    return snapshot


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
    p99 = _p99(latencies) * 1000
    ctx.record("keystroke echo p99", TERMINALS, [p99], unit="ms")
    ctx.target(f"echo p99 under 10 ms ({TERMINALS})", p99, 10.0, unit="ms")
    ctx.note(f"{TERMINALS}: echo p50 {figure.median:.2f} ms, p99 {p99:.2f} ms")
    ctx.note(
        "shell throughput: `ssh -tt host` (no command), then the shell runs "
        f"`head -c {SIZE} /dev/zero | tr '\\0' x`; time until its end marker arrives"
    )


def _shell_stream(ssh: list[str]) -> None:
    """Type :data:`STREAM_SCRIPT` into an interactive shell once it answers; return once
    all its output arrived."""
    proc = subprocess.Popen(
        [*ssh, "-tt", "sandbox@127.0.0.1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        _type(proc, b"echo RE''ADY\n")  # typed ahead of the shell's start-up it may be lost
        read_until(proc.stdout.fileno(), b"READY\r\n")
        _type(proc, STREAM_SCRIPT.encode())
        read_until(proc.stdout.fileno(), b"END\r\n", timeout=600)
    finally:
        end_shell(proc, b"exit\n")


def _type(proc: subprocess.Popen[bytes], keys: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(keys)
    proc.stdin.flush()


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
            _type(proc, b"echo RE''ADY\n")  # typed ahead of the shell's start-up it may be lost
            read_until(out, b"READY\r\n")
            _type(proc, b"echo CA''T; exec cat\n")
            read_until(out, b"CAT\r\n")
        else:
            read_until(out, b"READY\r\n")
        latencies = []
        for i in range(KEYSTROKES):
            key = bytes([ord("a") + i % 26])
            started = time.perf_counter()
            _type(proc, key)
            read_until(out, key)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        end_shell(proc)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _ssh(keypair: KeyPair, known_hosts: Path, port: int) -> list[str]:
    return pinned_argv(
        "ssh",
        known_hosts,
        keypair.private_key,
        port=port,
        options={"Ciphers": "aes128-gcm@openssh.com", "ControlPath": "none"},
    )


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
