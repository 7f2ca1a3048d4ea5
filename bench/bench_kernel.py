"""jupyssh-kernel against a local ipykernel and sshpyk (the PyPI release), on one sshd.

Every variant is started through jupyter_client's AsyncIOLoopKernelManager (the manager
JupyterLab uses, with its auto-restarter), from kernelspecs in a private Jupyter folder.
Start is ``start_kernel()`` until ``wait_for_ready()``; cold start stops the control master
first. ssh processes are counted with an ``ssh`` wrapper first on PATH (both provisioners
find ssh there). The latency rows put a user-space relay, delaying every chunk by 25 ms in
each direction, in front of sshd as the ProxyCommand (the kernel has no netem).

Run as a script (``python bench/bench_kernel.py relay HOST PORT DELAY``) it is that relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import Context, SSHCounter, private_jupyter, ssh_host
from jupyssh_harness import HostEntry, SSHContainer, write_ssh_config

from jupyssh.kernel.specs import SpecOptions, kernel_json

LOCAL = "local ipykernel"
SSHPYK = "sshpyk 1.25 (baseline)"
JUPYSSH = "jupyssh-kernel"
_IDLE_SECONDS = 30.0
_DELAY = 0.025


def run(ctx: Context) -> None:
    samples = max(5, ctx.samples)
    with ssh_host() as host, _workspace(host) as space:
        kernels = {LOCAL: "local", SSHPYK: "sshpyk", JUPYSSH: "jupyssh"}
        for variant, name in kernels.items():
            figures = asyncio.run(_measure(name, space, samples, ssh=variant != LOCAL))
            for metric, values, unit in figures:
                ctx.record(metric, variant, values, unit=unit)
        for variant, name in ((SSHPYK, "sshpyk-slow"), (JUPYSSH, "jupyssh-slow")):
            figures = asyncio.run(_measure(name, space, samples, ssh=True, short=True))
            for metric, values, unit in figures:
                ctx.record(f"{metric}, +25 ms one way", variant, values, unit=unit)
    _targets(ctx)


def _targets(ctx: Context) -> None:
    def median(metric: str, variant: str) -> float:
        return ctx.figure(metric, variant).median

    ctx.target(
        "warm start within 0.15 s of the local kernel's",
        median("start, warm master", JUPYSSH) - median("start, warm master", LOCAL),
        0.15,
        unit="s",
    )
    slow = "start, warm master, +25 ms one way"
    ctx.target(
        "start with latency at most 0.6 x sshpyk's",
        median(slow, JUPYSSH) / median(slow, SSHPYK),
        0.6,
        unit="ratio",
    )
    ctx.target(
        "restart at most sshpyk's",
        median("restart", JUPYSSH) / median("restart", SSHPYK),
        1.0,
        unit="ratio",
    )
    ctx.target("shutdown under 0.3 s", median("shutdown", JUPYSSH), 0.3, unit="s")
    idle = "ssh processes per idle minute"
    ctx.target(
        "idle ssh spawns at most a quarter of sshpyk's",
        median(idle, JUPYSSH),
        median(idle, SSHPYK) / 4,
        unit="",
    )


class _Space:
    def __init__(self, root: Path, host: SSHContainer, config: Path) -> None:
        self.root, self.host, self.config = root, host, config
        self.ssh = SSHCounter(root)

    def ssh_count(self) -> int:
        return self.ssh.count()

    def stop_masters(self) -> None:
        for sock in self.root.glob("cm-*"):
            subprocess.run(
                ["ssh", "-F", str(self.config), "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                capture_output=True,
                timeout=10,
                check=False,
            )


@contextlib.contextmanager
def _workspace(host: SSHContainer) -> Iterator[_Space]:
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="jkb-", dir="/tmp") as tmp:
        root = Path(tmp)
        space = _Space(root, host, _write_configs(root, host))
        space.ssh.install()
        # sshpyk writes its persistence file in the runtime folder and fails (leaving the
        # remote kernel running) when it is missing: private_jupyter makes it.
        data = private_jupyter(root)
        _write_specs(data / "kernels", space)
        try:
            yield space
        finally:
            space.stop_masters()
            os.environ.clear()
            os.environ.update(saved)


def _write_configs(root: Path, host: SSHContainer) -> Path:
    """``fast`` (direct) and ``slow`` (through the delaying relay) aliases, each with a
    master of its own (as both provisioners want). With a ProxyCommand ssh still checks
    the host key under HostName and Port, so the harness's known_hosts serves both."""
    relay = f"{sys.executable} {Path(__file__).resolve()} relay {host.hostname} {host.port}"

    def entry(alias: str, **extra: str) -> HostEntry:
        master = {
            "ControlMaster": "auto",
            "ControlPersist": "10m",
            "ControlPath": f"{root}/cm-{alias}-%C",
            "ServerAliveInterval": "5",
        }
        return dataclasses.replace(host.entry(alias=alias), options={**master, **extra})

    return write_ssh_config(
        root / "ssh_config", [entry("fast"), entry("slow", ProxyCommand=f"{relay} {_DELAY}")]
    )


def _write_specs(kernels: Path, space: _Space) -> None:
    def write(name: str, spec: dict[str, Any]) -> None:
        (kernels / name).mkdir(parents=True)
        (kernels / name / "kernel.json").write_text(json.dumps(spec))

    write(
        "local",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "local",
            "language": "python",
        },
    )
    for alias, suffix in (("fast", ""), ("slow", "-slow")):
        write(
            f"sshpyk{suffix}",
            {
                "argv": ["false"],
                "display_name": "sshpyk",
                "language": "python",
                "interrupt_mode": "message",
                "metadata": {
                    "kernel_provisioner": {
                        "provisioner_name": "sshpyk-provisioner",
                        "config": {
                            "ssh": str(Path(os.environ["PATH"].split(":")[0]) / "ssh"),
                            "ssh_host_alias": alias,
                            "ssh_config": str(space.config),
                            "remote_python": "/opt/venv/bin/python",
                            "remote_kernel_name": "python3",
                        },
                    }
                },
            },
        )
        options = SpecOptions(name=f"jupyssh{suffix}", host=alias, ssh_config=str(space.config))
        write(f"jupyssh{suffix}", kernel_json(options))


async def _ready(name: str) -> tuple[Any, Any]:
    from jupyter_client.ioloop.manager import AsyncIOLoopKernelManager

    km = AsyncIOLoopKernelManager(kernel_name=name)
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    return km, kc


async def _stop(km: Any, kc: Any) -> float:
    kc.stop_channels()
    start = time.perf_counter()
    await km.shutdown_kernel()
    return time.perf_counter() - start


async def _measure(
    name: str, space: _Space, samples: int, *, ssh: bool, short: bool = False
) -> list[tuple[str, list[float], str]]:
    figures: list[tuple[str, list[float], str]] = []
    warm, cold, restart, shutdown, execute, interrupt = [], [], [], [], [], []
    if ssh:
        km, kc = await _ready(name)  # warm-up: master up, caches filled
        await _stop(km, kc)
    for _ in range(samples):
        start = time.perf_counter()
        km, kc = await _ready(name)
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        await km.restart_kernel()
        await kc.wait_for_ready(timeout=120)
        restart.append(time.perf_counter() - start)
        if not short:
            for _ in range(5):
                start = time.perf_counter()
                await kc.execute("x = 1", reply=True, timeout=30)
                execute.append(time.perf_counter() - start)
            msg_id = kc.execute("import time; time.sleep(30)")
            await asyncio.sleep(0.5)
            start = time.perf_counter()
            await km.interrupt_kernel()
            while (await kc.get_shell_msg(timeout=30))["parent_header"].get("msg_id") != msg_id:
                pass
            interrupt.append(time.perf_counter() - start)
        shutdown.append(await _stop(km, kc))
        if ssh and not short:
            space.stop_masters()
            start = time.perf_counter()
            km, kc = await _ready(name)
            cold.append(time.perf_counter() - start)
            await _stop(km, kc)
    figures.append(("start, warm master", warm, "s"))
    if cold:
        figures.append(("start, cold master", cold, "s"))
    figures.append(("restart", restart, "s"))
    if short:
        return figures
    figures += [
        ("shutdown", shutdown, "s"),
        ("execute round trip", execute, "s"),
        ("interrupt (message) until the reply", interrupt, "s"),
    ]
    km, kc = await _ready(name)
    before = space.ssh_count()
    await asyncio.sleep(_IDLE_SECONDS)
    spawned = space.ssh_count() - before
    await _stop(km, kc)
    figures.append(("ssh processes per idle minute", [spawned * 60 / _IDLE_SECONDS], ""))
    before = space.ssh_count()
    km, kc = await _ready(name)
    started = space.ssh_count() - before
    await _stop(km, kc)
    figures.append(("ssh processes per start (warm)", [float(started)], ""))
    return figures


# --- the delaying relay (the ProxyCommand of the `slow` alias) ------------------------------


async def _pump(reader: asyncio.StreamReader, write: Any, delay: float) -> None:
    loop = asyncio.get_running_loop()
    while chunk := await reader.read(65536):
        loop.call_later(delay, write, chunk)
    loop.call_later(delay + 0.01, write, b"")


async def _relay(host: str, port: int, delay: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    out = os.fdopen(sys.stdout.fileno(), "wb", buffering=0)

    def to_server(chunk: bytes) -> None:
        if chunk:
            writer.write(chunk)
        elif writer.can_write_eof():
            writer.write_eof()

    def to_client(chunk: bytes) -> None:
        if chunk:
            out.write(chunk)

    await asyncio.gather(_pump(stdin, to_server, delay), _pump(reader, to_client, delay))
    await asyncio.sleep(delay + 0.05)


if __name__ == "__main__" and sys.argv[1:2] == ["relay"]:
    socket.setdefaulttimeout(30)
    asyncio.run(_relay(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
