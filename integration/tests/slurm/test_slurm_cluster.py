"""The cluster the Slurm kernel tests rely on is shaped like a real one: jobs run on the
compute nodes, never on the login node; the venv that holds ipykernel is on no PATH and
there is no ``python``; a job that cannot start waits with the scheduler's reason."""

from __future__ import annotations

import subprocess

from jupyssh_harness import COMPUTE_NODES, SlurmCluster, wait_for


def ssh(cluster: SlurmCluster, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cluster.login.ssh_argv(command), capture_output=True, text=True, timeout=60, check=False
    )


def test_srun_through_the_login_alias_runs_on_a_compute_node(slurm_cluster: SlurmCluster) -> None:
    done = ssh(slurm_cluster, 'hostname; srun -N1 -t 1 sh -c "hostname; echo \\$SLURM_JOB_ID"')
    assert done.returncode == 0, done.stderr
    login, node, job_id = done.stdout.split()
    assert login == "login"
    assert node in COMPUTE_NODES
    assert job_id.isdigit()


def test_the_venv_is_on_no_path_and_there_is_no_python(slurm_cluster: SlurmCluster) -> None:
    done = ssh(slurm_cluster, 'echo "$PATH"; command -v python || echo no-python')
    assert done.returncode == 0, done.stderr
    path, python = done.stdout.split()
    assert "/opt/venv" not in path
    assert python == "no-python"
    for node in slurm_cluster.all_nodes():
        found = slurm_cluster.node_exec(
            node, ["/opt/venv/bin/python", "-c", "import ipykernel"], user="sandbox"
        )
        assert found.exit_code == 0


def test_a_job_waits_with_the_schedulers_reason_while_the_nodes_are_busy(
    slurm_cluster: SlurmCluster,
) -> None:
    for node in COMPUTE_NODES:
        done = ssh(slurm_cluster, f"sbatch -c 2 -w {node} -t 2 --wrap 'sleep 120'")
        assert done.returncode == 0, done.stderr
    done = ssh(slurm_cluster, "sbatch -c 1 -t 1 --parsable --wrap hostname")
    waiting = done.stdout.strip()

    reasons: list[str] = []

    def pending_with_reason() -> bool:
        job = {job.job_id: job for job in slurm_cluster.jobs()}.get(waiting)
        if job and job.state == "PENDING" and job.reason != "None":
            reasons.append(job.reason)
        return bool(reasons)

    wait_for(pending_with_reason, 30, "the third job to pend with a reason")
    assert reasons[0] in ("Resources", "Priority")
