"""Kernels on Slurm compute nodes, through the login node's control master (the Slurm
issue): the kernel runs on c1 or c2 under its own job, never on the login node; both
interrupt modes, a restart in the same job and a shutdown work; afterwards the user has no
job and no process on any node. The cluster's venv is on no PATH and has no ``python``:
the venv's own ``python3`` kernelspec (argv ``python``) starts through Slurm too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import re
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
from jupyssh_harness import COMPUTE_NODES, LOGIN_NODE, ArgvWatch, SlurmCluster, until, wait_for
from nbclient import NotebookClient

from jupyssh.kernel.errors import KernelLaunchError

from .conftest import jupyssh, kernel_config
from .test_kernel_lifecycle import execute, interrupt_sleep, manager
from .test_kernel_resilience import kernel_launch, printed_eventually

pytestmark = pytest.mark.asyncio

VENV_PYTHON = "/opt/venv/bin/python"
#: Where jupyssh, Slurm and the kernel write on a node (searched for the key).
WRITTEN = "/home /tmp /run /dev/shm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm"
WHERE = (
    "import os, socket, sys; "
    "print(socket.gethostname(), os.environ['SLURM_JOB_ID'], sys.executable)"
)


@pytest.fixture
def slurm_spec(slurm_cluster: SlurmCluster, jupyter_home: Path) -> str:
    """A kernelspec added with the real ``jupyssh kernel add … --scheduler slurm``."""
    config = kernel_config(slurm_cluster.login, jupyter_home)
    jupyssh(
        "kernel", "add", "slurm-py", slurm_cluster.login.alias, "-F", str(config),
        "--remote-python", VENV_PYTHON, "--remote-kernel", "python3",
        "--scheduler", "slurm", "--partition", "debug", "--cpus", "1", "--time", "10",
    )  # fmt: skip
    return "slurm-py"


def leftovers(cluster: SlurmCluster) -> dict[str, list[str]]:
    """The user's jobs and, per node, their processes (the login's sshd sessions aside)."""
    found = {node: cluster.processes(node) for node in cluster.all_nodes()}
    found["jobs"] = [f"{job.job_id} {job.state}" for job in cluster.jobs()]
    return {where: what for where, what in found.items() if what}


async def test_kernel_remote_lists_the_partitions_with_their_limits(
    slurm_cluster: SlurmCluster, jupyter_home: Path
) -> None:
    config = kernel_config(slurm_cluster.login, jupyter_home)
    alias = slurm_cluster.login.alias
    args = ("kernel", "remote", alias, "-F", str(config), "--remote-python", VENV_PYTHON)
    found = json.loads(jupyssh(*args, "--json").stdout)
    assert "python3" in found["specs"]
    assert found["partitions"] == [
        {"name": "debug*", "state": "up", "time_limit": "1:00:00", "nodes": "2",
         "cpus": "2", "memory_mb": found["partitions"][0]["memory_mb"], "gres": "(null)"}
    ]  # fmt: skip
    assert found["partitions"][0]["memory_mb"].isdigit()
    table = jupyssh(*args).stdout
    assert re.search(r"debug\*\s*│\s*up\s*│\s*1:00:00\s*│\s*2\s*│\s*2\s*│\s*\d+ MB", table), table


async def test_a_slurm_kernel_runs_on_a_compute_node_and_leaves_nothing(
    slurm_cluster: SlurmCluster, slurm_spec: str
) -> None:
    km = manager(slurm_spec)
    await km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            content, out = await execute(kc, WHERE)
            assert content["status"] == "ok", content
            node, job, python = out.split()
            assert node in COMPUTE_NODES  # never the login node
            assert job == km.provisioner.job
            assert python == VENV_PYTHON  # the spec's bare `python`, run as the venv's
            assert [j.job_id for j in slurm_cluster.jobs()] == [job]
            for mode in ("message", "signal"):
                assert await interrupt_sleep(km, kc, mode) < 10, mode
            await km.restart_kernel(now=False)
            await kc.wait_for_ready(timeout=60)
            content, out = await execute(kc, WHERE)
            assert out.split()[1] == job  # the restart ran in the same job
        finally:
            kc.stop_channels()
    finally:
        await km.shutdown_kernel()
    wait_for(lambda: not leftovers(slurm_cluster), 30, "no job and no process left")


async def test_a_queued_start_shows_its_reason_and_cancelling_it_leaves_no_job(
    slurm_cluster: SlurmCluster, slurm_spec: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sleepers = slurm_cluster.fill_nodes()
    km = manager(slurm_spec)
    start = asyncio.ensure_future(km.start_kernel())
    await until(lambda: bool(km.provisioner and km.provisioner.job_status.get("reason")), 30,
                "the queued job's reason")  # fmt: skip
    status = dict(km.provisioner.job_status)
    assert status["state"] == "PENDING"
    assert status["reason"] in ("Resources", "Priority")
    assert f"job {status['job']} pending ({status['reason']})" in caplog.text
    start.cancel()  # as Ctrl+C or a shutdown while it waits
    with contextlib.suppress(asyncio.CancelledError):
        await start
    wait_for(
        lambda: [j.job_id for j in slurm_cluster.jobs()] == sleepers, 30, "the queued job gone"
    )
    # A node freed: the next start finishes.
    slurm_cluster.node_exec(LOGIN_NODE, ["scancel", sleepers[0]])
    km = manager(slurm_spec)
    await km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        _, out = await execute(kc, WHERE)
        assert out.split()[0] == COMPUTE_NODES[0]
        kc.stop_channels()
    finally:
        await km.shutdown_kernel()


async def test_kernel_launch_shows_the_queued_job_and_ctrl_c_cancels_it(
    slurm_cluster: SlurmCluster, slurm_spec: str
) -> None:
    """``jupyssh kernel launch`` while both nodes are busy: its status line names the job
    and Slurm's reason (a line per change, stderr being a pipe here); Ctrl+C exits 130 and
    leaves no job of its own."""
    sleepers = slurm_cluster.fill_nodes()
    pending = re.compile(r"jupyssh-kernel: job (\d+) pending \((Resources|Priority)\)\n")
    lines: queue.Queue[str] = queue.Queue()
    with kernel_launch(slurm_spec) as launch:
        assert launch.stderr is not None
        stderr = launch.stderr
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stderr])
        reader.start()
        seen: list[str] = []
        try:
            deadline = time.monotonic() + 60
            # Slurm's first reason for a new job is "None" (said as "no reason given")
            while not (seen and pending.fullmatch(seen[-1])):
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            matched = pending.fullmatch(seen[-1])
            assert matched
            job = matched.group(1)
            queued = {found.job_id: found.state for found in slurm_cluster.jobs()}
            assert queued.get(job) == "PENDING", queued
            launch.send_signal(signal.SIGINT)
            assert launch.wait(30) == 130
        finally:
            if launch.poll() is None:
                launch.kill()
            reader.join(10)  # stderr's end: the pipe may be closed now
    wait_for(
        lambda: [j.job_id for j in slurm_cluster.jobs()] == sleepers, 30, "the queued job gone"
    )


async def test_a_job_ended_from_outside_is_a_dead_kernel_the_restarter_replaces(
    slurm_cluster: SlurmCluster, slurm_spec: str, caplog: pytest.LogCaptureFixture
) -> None:
    km = manager(slurm_spec)
    await km.start_kernel()
    try:
        first = km.provisioner.job
        restarted = asyncio.Event()
        km.add_restart_callback(restarted.set, "restart")
        km.start_restarter()
        slurm_cluster.node_exec(LOGIN_NODE, ["scancel", str(first)])
        await asyncio.wait_for(restarted.wait(), 60)
        assert f"job {first} ended: it was cancelled" in caplog.text
        await until(lambda: km.provisioner.job not in (None, first), 60, "a new job")
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        _, out = await execute(kc, WHERE)
        assert out.split()[1] == km.provisioner.job
        kc.stop_channels()
    finally:
        km.stop_restarter()
        await km.shutdown_kernel()
    wait_for(lambda: not leftovers(slurm_cluster), 30, "no job and no process left")


async def test_nbclient_runs_a_notebook_on_a_slurm_kernel_through_a_network_cut(
    slurm_cluster: SlurmCluster, slurm_spec: str
) -> None:
    """Acceptance 7: nbclient's own kernel start; 20 s with no packet between this machine
    and the login node mid-notebook; the job, the kernel and its variables are kept."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(WHERE),
        nbformat.v4.new_code_cell("x = 21"),
        nbformat.v4.new_code_cell("x * 2"),
    ]
    client = NotebookClient(nb, kernel_name=slurm_spec, timeout=60)
    async with client.async_setup_kernel():
        await client.async_execute_cell(nb.cells[0], 0)
        await client.async_execute_cell(nb.cells[1], 1)
        provisioner = client.km.provisioner
        job, pid = provisioner.job, provisioner._pid
        with slurm_cluster.login.network_cut():
            cut_at = time.monotonic()
            await until(
                lambda: provisioner._watcher is None or provisioner._watcher.lost,
                15,
                "the link to the login node to be noticed lost",
            )
            await asyncio.sleep(max(0.0, 20 - (time.monotonic() - cut_at)))
        # as for a kernel off Slurm: iopub comes back on its own timer, boundedly
        assert await printed_eventually(client.kc, "21", within=30)
        await client.async_execute_cell(nb.cells[2], 2)
        assert (provisioner.job, provisioner._pid) == (job, pid)  # never restarted
    node, job_in_kernel, _ = nb.cells[0].outputs[0]["text"].split()
    assert node in COMPUTE_NODES
    assert job_in_kernel == job
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "42"
    wait_for(lambda: not leftovers(slurm_cluster), 30, "no job and no process left")


async def test_two_kernels_share_an_allocation_and_leave_it(
    slurm_cluster: SlurmCluster, jupyter_home: Path
) -> None:
    done = slurm_cluster.node_exec(
        LOGIN_NODE, ["salloc", "--no-shell", "-N1", "-c", "2", "-t", "5"], user="sandbox"
    )
    allocation = re.search(r"Granted job allocation (\d+)", done.stderr + done.stdout)
    assert allocation, done.stderr
    jobid = allocation.group(1)
    config = kernel_config(slurm_cluster.login, jupyter_home)
    jupyssh(
        "kernel", "add", "alloc-py", slurm_cluster.login.alias, "-F", str(config),
        "--remote-python", VENV_PYTHON, "--scheduler", "slurm", "--jobid", jobid,
    )  # fmt: skip
    managers = [manager("alloc-py"), manager("alloc-py")]
    try:
        for km in managers:
            await km.start_kernel()
        for km in managers:
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            _, out = await execute(kc, WHERE)
            assert out.split()[1] == jobid
            kc.stop_channels()
    finally:
        for km in managers:
            await km.shutdown_kernel()
    (job,) = slurm_cluster.jobs()
    assert (job.job_id, job.state) == (jobid, "RUNNING")  # the allocation is left alone
    wait_for(
        lambda: not any(slurm_cluster.processes(n) for n in COMPUTE_NODES),
        30,
        "no kernel process left on the nodes",
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (
            ("--partition", "nope"),
            "salloc refused the job: salloc: error: Job submit/allocate "
            "failed: Invalid partition name specified",
        ),
        # Accepted by a cluster whose EnforcePartLimits is off (this one, Slurm's default),
        # then pending for ever: the start ends with Slurm's reason instead of waiting.
        (
            ("--cpus", "64"),
            "can never start: it asks for more than the partition's nodes "
            "have (Slurm's reason: PartitionConfig)",
        ),
    ],
)
async def test_slurms_refusal_is_one_line_and_leaves_nothing(
    slurm_cluster: SlurmCluster, jupyter_home: Path, options: tuple[str, str], words: str
) -> None:
    config = kernel_config(slurm_cluster.login, jupyter_home)
    jupyssh(
        "kernel", "add", "refused-py", slurm_cluster.login.alias, "-F", str(config),
        "--remote-python", VENV_PYTHON, "--scheduler", "slurm", *options,
    )  # fmt: skip
    km = manager("refused-py")
    with pytest.raises(KernelLaunchError) as refused:
        await km.start_kernel()
    line = str(refused.value)
    assert "\n" not in line
    assert words in line
    wait_for(lambda: not leftovers(slurm_cluster), 30, "no job and no process left")


async def test_the_key_is_nowhere_on_the_cluster(
    slurm_cluster: SlurmCluster, slurm_spec: str
) -> None:
    containers = [slurm_cluster.login.container, *slurm_cluster.nodes.values()]
    with ArgvWatch(containers=containers) as watch:
        km = manager(slurm_spec)
        await km.start_kernel()
        try:
            key = km.session.key.decode()
            job = str(km.provisioner.job)
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            await execute(kc, "x = 1")
            kc.stop_channels()
            shown = slurm_cluster.node_exec(LOGIN_NODE, ["scontrol", "show", "job", "-d", job])
            script = slurm_cluster.node_exec(
                LOGIN_NODE, ["scontrol", "write", "batch_script", job, "-"], check=False
            )
            environment = slurm_cluster.node_exec(
                LOGIN_NODE, ["scontrol", "show", "job", "-dd", job], check=False
            )
            # Each round runs ps in three containers: let it look long enough while the
            # kernel runs (bounded), so the argv check below is never blind.
            wait_for(lambda: watch.samples > 5, 60, "six rounds of argv samples")
            readable = [
                slurm_cluster.node_exec(
                    node,
                    # the key reaches grep in its environment: in argv the watch would see it
                    ["sh", "-c", "grep -rlsF -- \"$NEEDLE\" $0 "
                     "| while read f; do [ \"$(stat -c %A \"$f\" | cut -c8)\" = r ] "
                     "&& echo \"$f\"; done", WRITTEN],
                    check=False,
                    environment={"NEEDLE": key},
                ).stdout.split()
                for node in slurm_cluster.all_nodes()
            ]  # fmt: skip
        finally:
            await km.shutdown_kernel()
    assert watch.samples > 5
    assert watch.holding([key]) == []
    assert key not in shown.stdout
    # an allocation (salloc): no batch script exists at all
    assert "Job script not specified" in script.stderr
    assert key not in script.stdout
    assert key not in environment.stdout
    assert readable == [[] for _ in readable]  # no file others can read holds it
