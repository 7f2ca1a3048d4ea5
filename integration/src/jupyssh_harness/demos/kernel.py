"""jupyssh-kernel: add the sandbox as a kernel, run a cell on it, remove it again; then
the same on a compute node of a sandbox Slurm cluster (a login node, two compute nodes)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from ..containers import SANDBOX_LABEL
from ..demo import Demo
from ..images import prepare
from ..keys import generate_keypair
from ..sandbox import _exit_master
from ..slurm import start_slurm_cluster
from ..sshconfig import write_ssh_config

PACKAGE = "jupyssh-kernel"
MODULE = "jupyssh.kernel"
TITLE = "a Jupyter kernel that runs on the ssh host, as if it were local"

_CELL = """\
from jupyter_client.manager import run_kernel
with run_kernel(kernel_name="{name}", startup_timeout=60) as kc:
    code = "import os, socket, sys; print(socket.gethostname(), sys.version.split()[0], "
    code += "'job', os.environ.get('SLURM_JOB_ID', '-'))"
    kc.execute_interactive(code, timeout=60)
"""
_CLUSTER = "cluster"
_CLUSTER_PYTHON = "/opt/venv/bin/python"  # on no PATH there, and there is no `python`


def run(demo: Demo) -> None:
    # A private Jupyter home: the demo never touches the user's ~/.local/share/jupyter.
    home = Path(tempfile.mkdtemp(prefix="jk-demo-", dir="/tmp"))  # short socket paths
    saved = dict(demo.env)
    demo.env.update(
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_PATH=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "rt"),
        JUPYTER_CONFIG_DIR=str(home / "cfg"),
        JUPYSSH_HOME=str(home / "js"),
    )
    try:
        demo.say("What kernels does the host offer? (one ssh session, through the master)")
        demo.jupyssh("kernel", "remote", "-F", demo.config, demo.alias)

        demo.say("Add it: the alias is checked for the kernel role, the host is asked once")
        demo.jupyssh("kernel", "add", "sandbox-py", demo.alias, "-F", demo.config)
        demo.jupyssh("kernel", "list")

        demo.say("Any jupyter_client user starts it; this cell runs on the host")
        _cell(demo, "sandbox-py")

        demo.say("Remove it again")
        demo.jupyssh("kernel", "remove", "sandbox-py")
        _on_a_cluster(demo, home)
    finally:
        demo.env.clear()
        demo.env.update(saved)
        shutil.rmtree(home, ignore_errors=True)


def _cell(demo: Demo, name: str) -> None:
    demo.shell(
        [sys.executable, "-c", _CELL.format(name=name)], shown=["python", "-c", "<run a cell>"]
    )


def _on_a_cluster(demo: Demo, home: Path) -> None:
    """A kernel on a Slurm compute node, through the login node's master."""
    demo.say("A Slurm cluster comes up: a login node (sshd, slurmctld), compute nodes c1, c2")
    keypair = generate_keypair(home, comment="jupyssh-sandbox-cluster")
    image = prepare()["slurm"].tag
    with start_slurm_cluster(
        image, home / "cluster", keypair=keypair, alias=_CLUSTER, role_label=SANDBOX_LABEL
    ) as cluster:
        master = {
            "ControlMaster": "auto",
            "ControlPath": str(home / "cm-%C"),
            "ControlPersist": "10m",
            "ServerAliveInterval": "15",
        }
        entry = dataclasses.replace(cluster.login.entry(), options=master)
        config = str(write_ssh_config(home / "cluster_ssh_config", [entry]))
        try:
            demo.say("The login node's kernelspecs and Slurm partitions")
            demo.jupyssh(
                "kernel", "remote", _CLUSTER, "-F", config, "--remote-python", _CLUSTER_PYTHON
            )

            demo.say("A kernel that runs as a Slurm job on a compute node, never on the login node")
            demo.jupyssh(
                "kernel", "add", "cluster-py", _CLUSTER, "-F", config,
                "--remote-python", _CLUSTER_PYTHON, "--remote-kernel", "python3",
                "--scheduler", "slurm", "--partition", "debug", "--cpus", "1", "--time", "10",
            )  # fmt: skip
            _cell(demo, "cluster-py")
            demo.say("The kernel was shut down with the cell, and its job cancelled: the queue")
            demo.shell(
                ["ssh", "-F", config, _CLUSTER, "squeue", "--me", "--noheader"],
                shown=["ssh", _CLUSTER, "squeue", "--me"],
            )
            demo.jupyssh("kernel", "remove", "cluster-py")
        finally:
            _exit_master(Path(config), _CLUSTER)
