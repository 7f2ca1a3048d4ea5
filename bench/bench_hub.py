"""jupyssh-hub on one real JupyterHub (issue 12): login-to-prompt and a 50 MB stream.

One hub (``containers/hub``), alice's server running, all variants in the same run:

- **OpenSSH sshd in alice's server**: an sshd that alice runs herself in her server's
  container (her host key, her authorized_keys), as jupyter-sshd-proxy runs one in each
  user's image and as the PyPI jupyterhub-ssh's sidecar does: the ceiling;
- **jupyssh-bridge on alice's server**: the bridge alone, pointed at her server through the
  hub's proxy (the bridge's own ratio to sshd, measured here, for the issue's target);
- **jupyssh-hub (SSH port)**: the hub service in this process, as the integration tests run it;
- **jupyssh-hub (WebSocket)**: the hub's own managed service, reached only through the hub's
  proxy with ``jupyssh tunnel ws-proxy`` as ssh's ProxyCommand.

jupyterhub-ssh 0.1.6, the PyPI release the issue names as the baseline, is probed rather
than timed: :func:`_probe_jupyterhub_ssh` says what it is and why it does not run here. The
project that first had the name (yuvipanda/jupyterhub-ssh, never released on PyPI: an
asyncssh server beside the hub, the user's hub token as the password, a Jupyter terminal per
session) is timed beside the others when ``$JUPYTERHUB_SSH_SOURCE`` names a checkout of it:
it runs from that source in a venv of its own, with its dependencies from the package index.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
from _common import ContainerCgroup, Context, cmdline, cpu_of, end_shell, read_until
from jupyssh_harness import (
    HUB_SERVICE_PACKAGES,
    JupyterHub,
    KeyPair,
    generate_keypair,
    prepare,
    start_jupyterhub,
    write_known_hosts,
)
from jupyssh_harness.containers import LOOPBACK, published_port
from jupyssh_harness.jupyterhub import HUB_IMAGE_PYTHON
from jupyssh_harness.lab import build_project_wheels
from jupyssh_harness.openssh import pinned_argv

from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig, SSHServer
from jupyssh.hub import HubOptions, HubServer, HubService

SIZE = 50 * 1024 * 1024
#: The port alice's own sshd listens on in the hub's container (published on 127.0.0.1).
SSHD_PORT = 2200
SSHD = "OpenSSH sshd in alice's server (ceiling)"
BRIDGE = "jupyssh-bridge on alice's server"
HUB_TCP = "jupyssh-hub (SSH port)"
HUB_TERMINALS = "jupyssh-hub (SSH port, terminals backend)"
HUB_WARM = "jupyssh-hub (SSH port, --warm-kernels 1)"
HUB_WS = "jupyssh-hub (WebSocket via the hub's proxy)"
BASELINE = "jupyterhub-ssh 0.1.6 (PyPI)"
ORIGINAL = "jupyterhub-ssh, yuvipanda's (source)"
#: A checkout of yuvipanda/jupyterhub-ssh (a folder holding ``jupyterhub_ssh/``).
ORIGINAL_ENV = "JUPYTERHUB_SSH_SOURCE"
#: Its setup.py's dependencies; websockets before 14, whose ``connect`` still takes the
#: ``extra_headers`` its terminado client passes.
ORIGINAL_DEPS = ("asyncssh", "aiohttp", "yarl", "async-timeout", "traitlets", "websockets<14")
#: Its own start-up (``JupyterHubSSH.start_server``) but on 127.0.0.1: it binds every
#: address, which these benchmarks never do.
ORIGINAL_LAUNCHER = """
import asyncio, sys
from functools import partial
import asyncssh
import jupyterhub_ssh as j
app = j.JupyterHubSSH(hub_url=sys.argv[1], host_key_path=sys.argv[2], port=0, debug=False)
app.init_logging()
async def main():
    server = await asyncssh.listen(
        host="127.0.0.1", port=0, server_factory=partial(j.NotebookSSHServer, app),
        line_editor=False, password_auth=True, server_host_keys=[app.host_key_path],
        agent_forwarding=False, keepalive_interval=30,
    )
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
#: ssh options that log in with the password SSH_ASKPASS types (the hub token).
PASSWORD_ONLY = {
    "BatchMode": "no",
    "PreferredAuthentications": "password",
    "PubkeyAuthentication": "no",
    "NumberOfPasswordPrompts": "1",
}
#: Typed into a shell: SIZE bytes of text through its PTY, then an end marker.
SHELL_STREAM = f"head -c {SIZE} /dev/zero | tr '\\0' x; echo; echo E''ND\n".encode()
WS_ALIAS = "hub-ws"
#: What the user types once the shell is up; split by quotes so its echo does not match.
READY = b"echo RE''ADY\n"
SSHD_CONFIG = f"""\
Port {SSHD_PORT}
ListenAddress 0.0.0.0
HostKey /home/alice/.bench-sshd/host_key
PidFile /home/alice/.bench-sshd/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
"""


def run(ctx: Context) -> None:
    images = prepare(("hub",))
    _probe_jupyterhub_ssh(ctx)
    with tempfile.TemporaryDirectory(prefix="jh-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        wheels = root / "wheels"
        # the managed service gets the compiled reader too where the image's CPython can
        # load it, as the service in this process has it
        compiled = sys.version_info[:2] == HUB_IMAGE_PYTHON
        build_project_wheels(wheels, HUB_SERVICE_PACKAGES, compiled=compiled)
        keypair = generate_keypair(root)
        with start_jupyterhub(
            images["hub"].tag, wheels_dir=wheels, extra_ports=(SSHD_PORT,)
        ) as hub:
            hub.authorize("alice", keypair.public_line)
            hub.start_server("alice")
            token = hub.user_token("alice", note="jupyssh-hub benchmark")
            sshd_blob = _start_user_sshd(hub)
            service = HubService(api_url=hub.api_url, token=hub.service_token, proxy_url=hub.url)
            config = ServerConfig(host_key=root / "hub-host-key", max_connections=64)
            terminals = BridgeConfig(sftp=False, backend="terminals")
            terminals_config = replace(config, host_key=root / "hub-terminals-host-key")
            warm_config = replace(config, host_key=root / "hub-warm-host-key")
            with (
                HubServer(service, config, BridgeConfig(sftp=False)) as hub_server,
                HubServer(service, terminals_config, terminals) as terminals_server,
                HubServer(
                    service, warm_config, BridgeConfig(sftp=False), HubOptions(warm_kernels=1)
                ) as warm_server,
                _bridge(hub, keypair, root) as bridge,
                _original_jupyterhub_ssh(ctx, hub, root) as original,
            ):
                hub_server.start()
                terminals_server.start()
                warm_server.start()
                sshd_port = published_port(hub.container, SSHD_PORT)
                known_hosts = write_known_hosts(
                    root / "known_hosts",
                    [
                        (LOOPBACK, sshd_port, sshd_blob),
                        (LOOPBACK, bridge.address[1], _blob_of(bridge)),
                        (LOOPBACK, hub_server.address[1], _blob_of(hub_server)),
                        (LOOPBACK, terminals_server.address[1], _blob_of(terminals_server)),
                        (LOOPBACK, warm_server.address[1], _blob_of(warm_server)),
                        (WS_ALIAS, 22, hub.service_host_key()),
                        *([] if original is None else [(LOOPBACK, original[0], original[1])]),
                    ],
                )
                ws_options = {
                    "ProxyCommand": f"{_jupyssh()} tunnel ws-proxy --token-env HUB_TOKEN "
                    f"{hub.service_url}",
                    "HostKeyAlias": WS_ALIAS,
                }
                targets = {
                    SSHD: [*_ssh(keypair, known_hosts, sshd_port), "alice@127.0.0.1"],
                    BRIDGE: [*_ssh(keypair, known_hosts, bridge.address[1]), "alice@127.0.0.1"],
                    HUB_TCP: [
                        *_ssh(keypair, known_hosts, hub_server.address[1]),
                        "alice@127.0.0.1",
                    ],
                    HUB_WS: [*_ssh(keypair, known_hosts, None, ws_options), f"alice@{WS_ALIAS}"],
                }
                logins_only = {
                    HUB_WARM: [
                        *_ssh(keypair, known_hosts, warm_server.address[1]),
                        "alice@127.0.0.1",
                    ]
                }
                env = {**os.environ, "HUB_TOKEN": token, **_askpass(root)}
                shells = {
                    SSHD: targets[SSHD],
                    HUB_TCP: targets[HUB_TCP],
                    HUB_TERMINALS: [
                        *_ssh(keypair, known_hosts, terminals_server.address[1]),
                        "alice@127.0.0.1",
                    ],
                    HUB_WS: targets[HUB_WS],
                }
                if original is not None:
                    shells[ORIGINAL] = [
                        *_ssh(keypair, known_hosts, original[0], PASSWORD_ONLY),
                        "alice@127.0.0.1",
                    ]
                _logins(ctx, {**targets, **logins_only}, shells, env)
                _throughput(ctx, targets, env)
                _cpu_profile(ctx, hub, targets, env)
                _shell_throughput(ctx, shells, env)
    ctx.note(
        "one hub, alice's server running (local-process spawner); sshd is alice's own, "
        "in her server's container; ssh with aes128-gcm, no ControlMaster; the kernel "
        "backend starts a kernel per connection (its shells and commands run there), the "
        "terminals backend runs shells in a Jupyter terminal as jupyterhub-ssh does"
    )
    ctx.note(
        "the managed service (WebSocket) runs wheels built "
        + ("with the compiled reader" if compiled else "pure (host CPython differs)")
        + "; the in-process services use this checkout's reader"
    )


def _probe_jupyterhub_ssh(ctx: Context) -> None:
    """Install-and-look at the PyPI jupyterhub-ssh (in this venv: the bench group), and
    record why it cannot be timed here."""
    try:  # untyped third-party modules, imported by name
        spawners = importlib.import_module("jupyterhub.spawner")
        hooks = importlib.import_module("jupyterhub_ssh.hooks")
        keys = importlib.import_module("jupyterhub_ssh.keys")
    except ImportError as exc:
        ctx.note(f"{BASELINE}: not measured: it does not import here ({exc})")
        return
    hook = hooks.make_ssh_pre_spawn_hook(key_store=keys.InMemoryKeyStore())
    user = SimpleNamespace(
        name="alice", url="/user/alice/", escaped_name="alice", id=1, orm_user=None,
        settings={}, server=None, spawners={},
    )  # fmt: skip
    spawner: Any = spawners.LocalProcessSpawner(user=user, hub=None)
    asyncio.run(hook(spawner))
    containers = getattr(spawner, "extra_containers", [])
    images = ", ".join(str(c.get("image")) for c in containers) or "none"
    kept = spawner.has_trait("extra_containers")
    ctx.note(
        f"{BASELINE}: not measured, it cannot run here. The PyPI release is a KubeSpawner "
        "pre_spawn_hook (jupyterhub_ssh.hooks.make_ssh_pre_spawn_hook) that adds an OpenSSH "
        f"sidecar container to each user's pod (image {images}, not in the wheel) and keeps "
        "keys in Kubernetes Secrets; it has no SSH server of its own. Run on this hub's "
        "local-process spawner the hook only sets attributes the spawner "
        f"{'uses' if kept else 'has no trait for (extra_containers ignored)'}, so nothing "
        "listens; there is no Kubernetes here and no registry to pull the sidecar image "
        "from. What its sidecar does (sshd beside the user's server, sharing the home) is "
        f"the '{SSHD}' column."
    )


def _start_user_sshd(hub: JupyterHub) -> str:
    """Start an sshd as alice in the hub's container (she owns it all: key, config, pid);
    returns its host key's ``type blob``."""
    folder = "/home/alice/.bench-sshd"
    hub.exec(["mkdir", "-p", "-m", "700", folder], user="alice")
    hub.exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{folder}/host_key"],
             user="alice")  # fmt: skip
    hub.exec(["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", SSHD_CONFIG, f"{folder}/sshd_config"],
             user="alice")  # fmt: skip
    hub.container.get_wrapped_container().exec_run(
        ["/usr/sbin/sshd", "-D", "-e", "-f", f"{folder}/sshd_config"], user="alice", detach=True
    )
    deadline = time.monotonic() + 30
    while hub.exec(["test", "-s", f"{folder}/sshd.pid"], check=False).exit_code != 0:
        if time.monotonic() > deadline:
            raise TimeoutError("alice's sshd did not start")
        time.sleep(0.2)
    public = hub.exec(["cat", f"{folder}/host_key.pub"], user="alice").stdout.split()
    return f"{public[0]} {public[1]}"


def _logins(
    ctx: Context,
    targets: dict[str, list[str]],
    shells: dict[str, list[str]],
    env: dict[str, str],
) -> None:
    samples = max(3, min(ctx.samples, 10))
    for variant, ssh in {**targets, **shells}.items():
        _retrying(lambda ssh=ssh: _login_to_prompt(ssh, env))  # type: ignore[misc]  # warm-up
        seconds: list[float] = []
        failed = 0
        while len(seconds) < samples:
            try:
                seconds.append(_login_to_prompt(ssh, env))
            except EOFError:  # the session ended before its shell answered
                failed += 1
                if failed > 2 * samples:
                    raise
        ctx.record("login to prompt (ssh -tt, shell answers)", variant, seconds)
        if failed:
            ctx.note(
                f"{variant}: {failed} of {samples + failed} logins ended before the shell "
                "answered (not timed; tried again)"
            )
    if ORIGINAL in shells:
        for variant in (HUB_TCP, HUB_TERMINALS, HUB_WARM, HUB_WS):
            ctx.target(
                f"{variant}: login to prompt within 0.5 s of {ORIGINAL}'s, or faster",
                ctx.figure("login to prompt (ssh -tt, shell answers)", variant).median,
                ctx.figure("login to prompt (ssh -tt, shell answers)", ORIGINAL).median + 0.5,
                unit="s",
            )
    for variant, ssh in targets.items():
        seconds = ctx.measure(lambda ssh=ssh: _command(ssh, env, "true"), n=samples)  # type: ignore[misc]
        ctx.record("login + command (ssh host true)", variant, seconds)
    ctx.note(
        "login to prompt: from starting `ssh -tt` (a shell) until the shell echoes a "
        "marker typed once its first output arrived; login + command: `ssh -T host true`"
    )


def _throughput(ctx: Context, targets: dict[str, list[str]], env: dict[str, str]) -> None:
    """50 MB to the client, timed from its first byte to its last: the stream's own rate
    (the login before it is timed apart, above). The whole command, login included, is
    recorded too, as the figure a user waits for."""
    samples = max(3, min(ctx.samples, 7))
    for ssh in targets.values():  # warm-up
        _stream(ssh, env)
    rates: dict[str, list[float]] = {variant: [] for variant in targets}
    whole: dict[str, list[float]] = {variant: [] for variant in targets}
    # round by round, every variant once: a drift of the machine (another process, the
    # page cache, the hub's own housekeeping) then weighs on each alike, as the ratios need
    for _ in range(samples):
        for variant, ssh in targets.items():
            rate, seconds = _stream(ssh, env)
            rates[variant].append(rate)
            whole[variant].append(SIZE / 1e6 / seconds)
    for variant in targets:
        ctx.record(
            "50 MB to the client (first byte to last)",
            variant,
            rates[variant],
            unit="MB/s",
            lower_is_better=False,
        )
        ctx.record(
            "50 MB to the client, login included (ssh's start to its exit)",
            variant,
            whole[variant],
            unit="MB/s",
            lower_is_better=False,
        )
    ceiling = statistics.median(rates[SSHD])
    for variant in (BRIDGE, HUB_TCP, HUB_WS):
        ctx.record(
            "throughput relative to sshd (first byte to last)",
            variant,
            [rate / ceiling for rate in rates[variant]],
            unit="ratio",
            lower_is_better=False,
        )
    bridge_ratio = statistics.median(rates[BRIDGE]) / ceiling
    for variant in (HUB_TCP, HUB_WS):
        ctx.target(
            f"{variant}: throughput ratio to sshd at least the bridge's",
            statistics.median(rates[variant]) / ceiling,
            bridge_ratio,
            unit="ratio",
            at_most=False,
        )
    ctx.note(
        f"throughput: `ssh -T host head -c {SIZE} /dev/zero` into a reader process that "
        "notes when the first and the last byte came; the rate is the bytes after the first "
        f"read over that time; {samples} rounds, each variant once per round (interleaved)"
    )


#: Reads stdin to its end; prints when its first and last bytes came (CLOCK_MONOTONIC,
#: the same clock in every process), how many bytes came, and how many the first read had.
_SINK = """
import os, time
first = None
count = head = 0
while chunk := os.read(0, 1 << 20):
    if first is None:
        first, head = time.monotonic(), len(chunk)
    count += len(chunk)
print(first, time.monotonic(), count, head)
"""


def _stream(ssh: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One 50 MB stream: its rate in MB/s from first byte to last, and the seconds from
    ssh's start to its exit."""
    started = time.perf_counter()
    client = subprocess.Popen(
        [*ssh[:-1], "-T", ssh[-1], f"head -c {SIZE} /dev/zero"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
    )
    with client:
        sink = subprocess.run(
            [sys.executable, "-c", _SINK],
            stdin=client.stdout,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        if client.wait(timeout=60) != 0:
            raise RuntimeError(f"ssh exited {client.returncode}: {' '.join(ssh)}")
    seconds = time.perf_counter() - started
    first, last, count, head = sink.stdout.split()
    if int(count) != SIZE:
        raise RuntimeError(f"{count} bytes came instead of {SIZE}: {' '.join(ssh)}")
    return (int(count) - int(head)) / 1e6 / (float(last) - float(first)), seconds


#: The parts of a 50 MB stream's path whose CPU the profile reports, in the table's order.
PARTS = (
    "ssh client (and ws-proxy, its ProxyCommand)",
    "jupyssh in this process (bridge, or hub on its SSH port)",
    "jupyssh hub serve (managed, in the hub's container)",
    "the hub's proxy (configurable-http-proxy)",
    "docker-proxy (published ports)",
    "alice's server (jupyterhub-singleuser)",
    "the connection's kernel (and head), and the rest of the hub's container",
)
#: How each part's processes are told apart in the hub's container, by their argv.
_IN_CONTAINER = {
    PARTS[2]: ("jupyssh", "serve"),
    PARTS[3]: ("configurable-http-proxy",),
    PARTS[5]: ("jupyterhub-singleuser",),
}


def _cpu_profile(
    ctx: Context, hub: JupyterHub, targets: dict[str, list[str]], env: dict[str, str]
) -> None:
    """CPU ms per MB of the 50 MB stream, per part of its path: on two cores the path is
    CPU-bound, so where the CPU goes is where the throughput goes."""
    samples = 3
    cgroup = ContainerCgroup(hub.container)
    _become_subreaper()
    command = f"head -c {SIZE} /dev/zero"
    for variant, ssh in targets.items():
        parts: dict[str, list[float]] = {part: [] for part in PARTS}
        for _ in range(samples):
            before = _cpu_snapshot(cgroup)
            _command(ssh, env, command)
            _reap_orphans()
            after = _cpu_snapshot(cgroup)
            spent = {part: after[part] - before[part] for part in after}
            # a connection's kernel is gone when ssh exits: the cgroup still counts it
            spent[PARTS[6]] = spent.pop("container") - sum(spent.get(p, 0.0) for p in _IN_CONTAINER)
            for part in PARTS:
                parts[part].append(max(spent.get(part, 0.0), 0.0) * 1000 / (SIZE / 1e6))
        for part in PARTS:
            if any(parts[part]):
                ctx.record(f"CPU per MB: {part}", variant, parts[part], unit="ms/MB")
        total = [sum(values) for values in zip(*parts.values(), strict=True)]
        ctx.record("CPU per MB: all of the above", variant, total, unit="ms/MB")
    ctx.note(
        "CPU profile: 3 more `ssh -T host head -c 50MB` per variant, CPU seconds of each part "
        "between ssh's start and its exit (the login's included: ws-proxy's start, a "
        "kernel's start), read from the host; this process counts the "
        "in-process services (and, idle, the others); a ProxyCommand that ssh leaves behind "
        "is reaped by this process (a child subreaper), so its CPU counts with ssh's"
    )


def _cpu_snapshot(cgroup: ContainerCgroup) -> dict[str, float]:
    """Cumulative CPU seconds of each part of :data:`PARTS` now, and the container's."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    inside = list(cgroup.pids().values())
    snapshot = {
        PARTS[0]: children.ru_utime + children.ru_stime,
        PARTS[1]: own.ru_utime + own.ru_stime,
        PARTS[4]: cpu_of(
            p for p in psutil.process_iter(["name"]) if p.info["name"] == "docker-proxy"
        ),
        "container": cgroup.cpu_seconds(),
    }
    for part, words in _IN_CONTAINER.items():
        snapshot[part] = cpu_of(
            p for p in inside if all(any(w in a for a in cmdline(p)) for w in words)
        )
    return snapshot


def _become_subreaper() -> None:
    """Make this process adopt its descendants' orphans (PR_SET_CHILD_SUBREAPER), so that
    a ProxyCommand ssh does not wait for is reaped here and its CPU counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_orphans(timeout: float = 10.0) -> None:
    """Wait for the orphans this process adopted, bounded by ``timeout``: the ``jupyssh``
    processes (ws-proxy) among its children; it starts none itself, so subprocess's own
    children are never reaped behind its back."""
    deadline = time.monotonic() + timeout
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.name() != "jupyssh":
                continue
        with contextlib.suppress(ChildProcessError):
            while time.monotonic() < deadline:
                pid, _ = os.waitpid(child.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.01)


def _shell_throughput(ctx: Context, shells: dict[str, list[str]], env: dict[str, str]) -> None:
    """SIZE bytes of text through an interactive shell: the one thing every variant does
    (yuvipanda's jupyterhub-ssh runs no command but a terminal, jupyterhub-ssh#41)."""
    samples = max(3, min(ctx.samples, 3))
    for variant, ssh in shells.items():
        _retrying(lambda ssh=ssh: _shell_stream(ssh, env))  # type: ignore[misc]  # warm-up
        seconds = [_retrying(lambda ssh=ssh: _shell_stream(ssh, env)) for _ in range(samples)]  # type: ignore[misc]
        ctx.record(
            "50 MB of text through a shell's PTY",
            variant,
            [SIZE / 1e6 / s for s in seconds],
            unit="MB/s",
            lower_is_better=False,
        )
    ctx.note(
        "shell throughput: `ssh -tt host` (a shell), typing "
        f"`head -c {SIZE} /dev/zero | tr '\\0' x` into it; time until its end marker arrives"
    )


def _retrying(attempt: Callable[[], float], tries: int = 5) -> float:
    """``attempt()``, again while its session ends before the shell answers (yuvipanda's
    jupyterhub-ssh does, now and then: the notes count those of the timed logins)."""
    for _ in range(tries - 1):
        try:
            return attempt()
        except EOFError:
            continue
    return attempt()


def _shell_stream(ssh: list[str], env: dict[str, str]) -> float:
    """Seconds from typing the stream's command, once the shell answers, to its end."""
    with _shell(ssh, env) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        started = time.perf_counter()
        proc.stdin.write(SHELL_STREAM)
        proc.stdin.flush()
        read_until(proc.stdout.fileno(), b"END\r\n", timeout=600)
        return time.perf_counter() - started


def _login_to_prompt(ssh: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ssh until its shell answered."""
    started = time.perf_counter()
    with _shell(ssh, env):
        return time.perf_counter() - started


@contextlib.contextmanager
def _shell(ssh: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``ssh -tt`` (a shell) once it answers: its first output, then a marker typed and
    echoed back; ``exit`` typed at the end."""
    proc = subprocess.Popen(
        [*ssh[:-1], "-tt", ssh[-1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        read_until(proc.stdout.fileno(), b"")  # the shell's first output (its prompt)
        proc.stdin.write(READY)
        proc.stdin.flush()
        read_until(proc.stdout.fileno(), b"READY")
        yield proc
    finally:
        end_shell(proc, b"exit\n")


def _command(ssh: list[str], env: dict[str, str], command: str) -> None:
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            [*ssh[:-1], "-T", ssh[-1], command],
            stdout=sink,
            stdin=subprocess.DEVNULL,
            env=env,
            check=True,
            timeout=600,
        )


def _ssh(
    keypair: KeyPair, known_hosts: Path, port: int | None, extra: dict[str, str] | None = None
) -> list[str]:
    options = {"Ciphers": "aes128-gcm@openssh.com", "ControlPath": "none", **(extra or {})}
    return pinned_argv("ssh", known_hosts, keypair.private_key, port=port, options=options)


@contextlib.contextmanager
def _bridge(hub: JupyterHub, keypair: KeyPair, root: Path) -> Iterator[BridgeServer]:
    """jupyssh-bridge alone on alice's server (through the proxy, with the service's
    token, which may reach every user's server)."""
    authorized = root / "authorized_keys"
    authorized.write_text(keypair.public_line + "\n")
    authorized.chmod(0o600)
    config = ServerConfig(host_key=root / "bridge-host-key", authorized_keys=authorized)
    client = JupyterClient(hub.server_url("alice"), token=hub.service_token)
    with BridgeServer(client, config, BridgeConfig(sftp=False)) as server:
        server.start()
        yield server


def _askpass(root: Path) -> dict[str, str]:
    """What makes ssh type $HUB_TOKEN as the password (never in argv), where a password is
    asked (yuvipanda's jupyterhub-ssh only)."""
    script = root / "askpass"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$HUB_TOKEN"\n', encoding="ascii")
    script.chmod(0o700)
    return {"SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force"}


@contextlib.contextmanager
def _original_jupyterhub_ssh(
    ctx: Context, hub: JupyterHub, root: Path
) -> Iterator[tuple[int, str] | None]:
    """yuvipanda's jupyterhub-ssh serving the hub, from ``$JUPYTERHUB_SSH_SOURCE``: its
    port and host key blob; None (and a note) without a checkout."""
    source = os.environ.get(ORIGINAL_ENV)
    if not source or not (Path(source) / "jupyterhub_ssh" / "__init__.py").is_file():
        ctx.note(
            f"{ORIGINAL}: not timed: set ${ORIGINAL_ENV} to a checkout of "
            "yuvipanda/jupyterhub-ssh (never released on PyPI) to time it too"
        )
        yield None
        return
    venv = root / "jupyterhub-ssh-venv"
    subprocess.run(["uv", "venv", "-q", "-p", "python3", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", python, *ORIGINAL_DEPS],
        check=True, timeout=600,
    )  # fmt: skip
    key = root / "jupyterhub-ssh-host-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=30)  # fmt: skip
    blob = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    with (root / "jupyterhub-ssh.log").open("wb") as log:
        proc = subprocess.Popen(
            [python, "-c", ORIGINAL_LAUNCHER, hub.url, str(key)],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONPATH": source},
        )
    try:
        assert proc.stdout is not None
        ready = select.select([proc.stdout], [], [], 60)[0]
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"{ORIGINAL} did not start (see {root}/jupyterhub-ssh.log)")
        ctx.note(
            f"{ORIGINAL}: its own code, from {ORIGINAL_ENV} at "
            f"{_commit_of(Path(source))}, started like its JupyterHubSSH.start_server but on "
            "127.0.0.1 (it binds every address); the user's hub token as the password "
            "(SSH_ASKPASS); it runs no command, only a terminal, so it has shell rows only"
        )
        yield int(line.split()[1]), blob
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _commit_of(source: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.stdout.strip() or "an unknown commit"


def _blob_of(server: SSHServer) -> str:
    return f"{server.host_key.get_name()} {server.host_key.get_base64()}"


def _jupyssh() -> str:
    found = shutil.which("jupyssh")
    if found is None:
        raise RuntimeError("no jupyssh on PATH (run through nox -s bench)")
    return found
