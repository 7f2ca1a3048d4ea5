"""jupyssh-kernel on Slurm: start to ready of a kernel on a compute node, on the harness's
cluster (a login node with sshd and slurmctld, compute nodes c1 and c2, no sshd on them).

Variants, all through jupyter_client's AsyncIOLoopKernelManager from kernelspecs in a
private Jupyter folder, with the login alias's control master warm:

- the floor: ``srun hostname`` through the login node's master (what any kernel on a
  compute node pays to the scheduler) plus jupyssh's start of a kernel on the login node
  itself (what it pays to ssh and ipykernel); each sample is one of each, summed;
- jupyssh-kernel with ``--scheduler slurm``: ``start_kernel()`` until ``wait_for_ready()``;
- remote_ikernel 0.4.6 (the PyPI release, its ``--interface slurm`` with the login node as
  ``--tunnel-hosts``): tried once with a bound. It never becomes ready here: it waits for
  a line that Slurm's ``srun -v`` no longer prints in that form, and it reaches the kernel
  by ssh to the compute node, which this cluster (as many) does not run; the note says so
  instead of a figure.

Idle cost with one Slurm kernel running: ssh processes spawned (an ``ssh`` wrapper first on
PATH) and scheduler RPCs made by the user (``sdiag``'s per-user counts on the login node,
which cover squeue, scontrol and sinfo alike) per idle minute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Context, SSHCounter, private_jupyter
from jupyssh_harness import (
    LOGIN_NODE,
    SlurmCluster,
    generate_keypair,
    prepare,
    start_slurm_cluster,
    write_ssh_config,
)

from jupyssh.kernel.specs import SpecOptions, kernel_json

FLOOR = "floor: srun hostname + login-node start"
JUPYSSH = "jupyssh-kernel, Slurm"
RIK = "remote_ikernel 0.4.6 (baseline)"
START = "start to ready"
ALIAS = "login"
VENV_PYTHON = "/opt/venv/bin/python"
SLURM_OPTIONS: dict[str, Any] = {"partition": "debug", "cpus": 1, "time": "10"}
_IDLE_SECONDS = 30.0
#: How long remote_ikernel may take to become ready before the attempt is called failed.
_RIK_BOUND = 30.0


def run(ctx: Context) -> None:
    samples = max(5, min(ctx.samples, 10))  # each sample is a job or two: keep the run short
    images = prepare()
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="jsl-", dir="/tmp") as tmp:
        root = Path(tmp)
        keypair = generate_keypair(root)
        with start_slurm_cluster(images["slurm"].tag, root / "c", keypair=keypair) as cluster:
            try:
                config = _setup(root, cluster)
                counter = SSHCounter(root)
                counter.install()
                _run_in(ctx, cluster, config, counter, samples)
            finally:
                subprocess.run(
                    ["ssh", "-F", str(config), "-O", "exit", ALIAS],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
                os.environ.clear()
                os.environ.update(saved)
    _targets(ctx)


def _run_in(
    ctx: Context, cluster: SlurmCluster, config: Path, counter: SSHCounter, samples: int
) -> None:
    srun = ["ssh", "-F", str(config), ALIAS, "srun", "-p", "debug", "-c", "1", "-t", "10"]
    asyncio.run(_start_and_stop("login"))  # warm-up: master up, caches filled
    floor = []
    for _ in range(samples):
        began = time.perf_counter()
        subprocess.run([*srun, "hostname"], capture_output=True, timeout=60, check=True)
        scheduler = time.perf_counter() - began
        floor.append(scheduler + asyncio.run(_start_and_stop("login")))
    ctx.record(START, FLOOR, floor)
    asyncio.run(_start_and_stop("slurm"))  # warm-up
    ctx.record(START, JUPYSSH, [asyncio.run(_start_and_stop("slurm")) for _ in range(samples)])
    spawned, rpcs = asyncio.run(_idle(cluster, counter))
    ctx.record("ssh processes per idle minute", JUPYSSH, [spawned], unit="")
    ctx.record("scheduler RPCs per idle minute", JUPYSSH, [rpcs], unit="")
    ctx.note(_remote_ikernel(cluster))


def _setup(root: Path, cluster: SlurmCluster) -> Path:
    """The login alias with a master of its own; kernelspecs ``login`` (a kernel on the
    login node), ``slurm`` (jupyssh on a compute node) and ``rik`` (remote_ikernel)."""
    master = {
        "ControlMaster": "auto",
        "ControlPersist": "10m",
        "ControlPath": f"{root}/cm-%C",
        "ServerAliveInterval": "5",
    }
    entry = dataclasses.replace(cluster.login.entry(alias=ALIAS), options=master)
    config = write_ssh_config(root / "ssh_config", [entry])
    data = private_jupyter(root)

    def write(name: str, spec: dict[str, Any]) -> None:
        (data / "kernels" / name).mkdir(parents=True)
        (data / "kernels" / name / "kernel.json").write_text(json.dumps(spec))

    common = {"host": ALIAS, "ssh_config": str(config), "remote_python": VENV_PYTHON}
    write("login", kernel_json(SpecOptions(name="login", **common)))
    slurm = SpecOptions(name="slurm", scheduler="slurm", **common, **SLURM_OPTIONS)
    write("slurm", kernel_json(slurm))
    # remote_ikernel runs a bare `ssh HOST`: the counting wrapper adds this config
    os.environ["BENCH_SSH_CONFIG"] = str(config)
    write(
        "rik",
        {
            "argv": [
                sys.executable, "-m", "remote_ikernel", "--interface", "slurm",
                "--tunnel-hosts", ALIAS, "--launch-args", "-p debug -t 10",
                "--kernel_cmd", f"{VENV_PYTHON} -m ipykernel_launcher -f {{host_connection_file}}",
                "--workdir", "/home/sandbox", "{connection_file}",
            ],
            "display_name": "remote_ikernel",
            "language": "python",
        },
    )  # fmt: skip
    return config


async def _ready(name: str, **start: Any) -> tuple[Any, Any]:
    from jupyter_client.ioloop.manager import AsyncIOLoopKernelManager

    km = AsyncIOLoopKernelManager(kernel_name=name)
    await km.start_kernel(**start)
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    return km, kc


async def _start_and_stop(name: str) -> float:
    """Seconds from ``start_kernel()`` until ready; the kernel is shut down after."""
    began = time.perf_counter()
    km, kc = await _ready(name)
    elapsed = time.perf_counter() - began
    kc.stop_channels()
    await km.shutdown_kernel()
    return elapsed


async def _idle(cluster: SlurmCluster, counter: SSHCounter) -> tuple[float, float]:
    """ssh processes and the user's scheduler RPCs per minute while a Slurm kernel idles."""
    km, kc = await _ready("slurm")
    try:
        await asyncio.sleep(5)  # the start's own queries are done
        ssh_before, rpc_before = counter.count(), _user_rpcs(cluster)
        await asyncio.sleep(_IDLE_SECONDS)
        ssh_after, rpc_after = counter.count(), _user_rpcs(cluster)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel()
    per_minute = 60 / _IDLE_SECONDS
    return (ssh_after - ssh_before) * per_minute, (rpc_after - rpc_before) * per_minute


def _user_rpcs(cluster: SlurmCluster) -> int:
    """slurmctld's count of RPCs from the test user (``sdiag``, run as root on the login
    node: it does not count itself against that user)."""
    out = cluster.node_exec(LOGIN_NODE, ["sdiag"]).stdout
    by_user = out.split("Remote Procedure Call statistics by user", 1)[-1]
    found = re.search(r"^\s*sandbox\s*\(\s*\d+\)\s*count:\s*(\d+)", by_user, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _remote_ikernel(cluster: SlurmCluster) -> str:
    """Try remote_ikernel's Slurm interface once, bounded; say what happened."""
    log = Path(os.environ["JUPYTER_RUNTIME_DIR"]) / "rik.log"

    async def attempt() -> float:
        with log.open("wb") as sink:
            km, kc = None, None
            began = time.perf_counter()
            try:
                km, kc = await asyncio.wait_for(_ready("rik", stdout=sink, stderr=sink), _RIK_BOUND)
                return time.perf_counter() - began
            finally:
                if kc is not None:
                    kc.stop_channels()
                if km is not None:
                    await km.shutdown_kernel(now=True)

    try:
        seconds = asyncio.run(attempt())
    except Exception as exc:  # noqa: BLE001 - the baseline's failure is the finding
        seen = log.read_text(errors="replace") if log.exists() else ""
        said = [line.strip() for line in seen.splitlines() if line.strip()]
        last = said[-1] if said else f"{type(exc).__name__}: {exc}"
        version = cluster.node_exec(LOGIN_NODE, ["srun", "--version"]).stdout.strip()
        cluster.cancel_all()
        return (
            f"{RIK}: not ready within {_RIK_BOUND:.0f} s, no figure. Its last line: {last!r}. "
            "It waits for `srun -v` to print `srun: Node NODE, N tasks started`; this "
            f"cluster's srun ({version}) prints `srun: launch/slurm: _task_start: Node c1, "
            "1 tasks started`, so the match never comes (its own timeout is 600 s). Past "
            "that, its tunnel would ssh to the compute node, which runs no sshd here (as on "
            "many clusters)."
        )
    return f"{RIK}: ready in {seconds:.2f} s (one attempt)"


def _targets(ctx: Context) -> None:
    floor = ctx.figure(START, FLOOR).median
    ctx.target(
        "Slurm start ready within 1 s of the floor",
        ctx.figure(START, JUPYSSH).median - floor,
        1.0,
        unit="s",
    )
    ctx.target(
        "no scheduler query while idle",
        ctx.figure("scheduler RPCs per idle minute", JUPYSSH).median,
        0.0,
        unit="",
    )
