"""Kernels on Slurm compute nodes, through the login node's control master (the Slurm
issue): the kernel runs on c1 or c2 under its own job, never on the login node; both
interrupt modes, a restart in the same job and a shutdown work; afterwards the user has no
job and no process on any node. The cluster's venv is on no PATH and has no ``python``:
the venv's own ``python3`` kernelspec (argv ``python``) starts through Slurm too."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyssh_harness import COMPUTE_NODES, SlurmCluster, wait_for

from .conftest import jupyssh, kernel_config
from .test_kernel_lifecycle import execute, interrupt_sleep, manager

pytestmark = pytest.mark.asyncio

VENV_PYTHON = "/opt/venv/bin/python"
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
