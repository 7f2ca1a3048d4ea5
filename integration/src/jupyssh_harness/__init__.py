"""The container harness of jupyssh's integration tests and demo sandbox.

Makes a container engine, a base image, wheelhouses and content-addressed images available
(:func:`prepare`), starts OpenSSH and Jupyter containers as context managers that yield
ready hosts with ssh configs and known_hosts (:func:`start_ssh_host`,
:func:`start_bastion_chain`, :func:`start_jupyter_server`, :func:`start_jupyterhub`,
:class:`Sandbox`), and removes
whatever a run left behind by label (:func:`cleanup`). CLI: ``python -m jupyssh_harness``.
"""

from __future__ import annotations

from ._common import HarnessError, cache_dir, containers_dir, repo_root
from .announcement import read_announcement
from .containers import (
    OWNER_LABEL,
    SANDBOX_LABEL,
    SSH_USER,
    TEST_LABEL,
    VENV_OFF_PATH,
    CleanupReport,
    CleanupScope,
    ExecResult,
    cleanup,
    configure_testcontainers,
)
from .engine import BASE_IMAGE, ensure_base_image, ensure_engine
from .hosts import (
    BastionChain,
    JupyterServer,
    SSHContainer,
    dead_port,
    start_bastion_chain,
    start_jupyter_server,
    start_ssh_host,
)
from .images import HARNESS_LABEL, IMAGE_NAMES, BuiltImage, ensure_image, prepare
from .jupyterhub import HUB_SERVICE_PACKAGES, HUB_USERS, JupyterHub, start_jupyterhub
from .keys import KeyPair, generate_host_key, generate_keypair, write_known_hosts
from .leaks import ArgvWatch, lines_with
from .sandbox import SANDBOX_ALIAS, Sandbox
from .slurm import COMPUTE_NODES, LOGIN_NODE, SlurmCluster, SlurmJob, start_slurm_cluster
from .sshconfig import HostEntry, write_ssh_config
from .streams import HashedStream, stream_random
from .waiting import until, wait_for
from .wheelhouse import Wheelhouse, ensure_wheelhouse

__all__ = [
    "BASE_IMAGE",
    "COMPUTE_NODES",
    "HARNESS_LABEL",
    "HUB_SERVICE_PACKAGES",
    "HUB_USERS",
    "IMAGE_NAMES",
    "LOGIN_NODE",
    "OWNER_LABEL",
    "SANDBOX_ALIAS",
    "SANDBOX_LABEL",
    "SSH_USER",
    "TEST_LABEL",
    "VENV_OFF_PATH",
    "ArgvWatch",
    "BastionChain",
    "BuiltImage",
    "CleanupReport",
    "CleanupScope",
    "ExecResult",
    "HarnessError",
    "HashedStream",
    "HostEntry",
    "JupyterHub",
    "JupyterServer",
    "KeyPair",
    "SSHContainer",
    "Sandbox",
    "SlurmCluster",
    "SlurmJob",
    "Wheelhouse",
    "cache_dir",
    "cleanup",
    "configure_testcontainers",
    "containers_dir",
    "dead_port",
    "ensure_base_image",
    "ensure_engine",
    "ensure_image",
    "ensure_wheelhouse",
    "generate_host_key",
    "generate_keypair",
    "lines_with",
    "prepare",
    "read_announcement",
    "repo_root",
    "start_bastion_chain",
    "start_jupyter_server",
    "start_jupyterhub",
    "start_slurm_cluster",
    "start_ssh_host",
    "stream_random",
    "until",
    "wait_for",
    "write_known_hosts",
    "write_ssh_config",
]
