"""A running Slurm cluster: a login node (sshd, slurmctld) and compute nodes ``c1``, ``c2``
(slurmd), one image (``containers/slurm``), one docker network, one shared ``/home``.

Only the login node is published (its sshd on 127.0.0.1), as on a cluster whose compute
nodes users cannot reach: what runs on a node is reached through the login node. Each
container's hostname is its Slurm NodeName. ``/home`` is a folder of the test's own bind
mounted on every node, so a test reads the user's files (and their modes) directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from .containers import (
    SSH_PORT,
    SSH_USER,
    SSHD_READY,
    STARTUP_TIMEOUT_S,
    TEST_LABEL,
    ExecResult,
    LoopbackContainer,
    create_network,
    exec_in,
    labels_for,
)
from .hosts import SSHContainer, _Running, reached_as
from .keys import KeyPair, generate_host_key
from .waiting import wait_for

__all__ = ["COMPUTE_NODES", "LOGIN_NODE", "SlurmCluster", "SlurmJob", "start_slurm_cluster"]

LOGIN_NODE = "login"
COMPUTE_NODES = ("c1", "c2")
#: How long slurmd may take to register with slurmctld after the containers start.
READY_TIMEOUT_S = 60.0
_HOST_KEYS_MOUNT = "/etc/jupyssh/host-keys"


@dataclass(frozen=True)
class SlurmJob:
    """One line of ``squeue``: id, state (PENDING, RUNNING, ...), reason, nodes."""

    job_id: str
    state: str
    reason: str
    nodes: str


@dataclass(frozen=True)
class SlurmCluster(_Running):
    """The running cluster; ``login`` is the ssh host users reach (``login.alias``).
    ``stop()`` (or leaving a ``with`` block) removes the nodes and the network."""

    login: SSHContainer
    nodes: dict[str, DockerContainer]
    home: Path
    _resources: ExitStack = field(repr=False, compare=False)

    def node_exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        user: str = "root",
        check: bool = True,
        environment: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``argv`` on ``node`` (``login``, ``c1``, ``c2``) with docker exec, not ssh."""
        container = self.login.container if node == LOGIN_NODE else self.nodes[node]
        return exec_in(container, argv, user=user, check=check, environment=environment)

    def all_nodes(self) -> Iterator[str]:
        yield LOGIN_NODE
        yield from self.nodes

    def jobs(self, user: str = SSH_USER) -> list[SlurmJob]:
        """``user``'s jobs as squeue shows them on the login node."""
        out = self.node_exec(LOGIN_NODE, ["squeue", "-h", "-u", user, "-o", "%i|%T|%r|%N"]).stdout
        return [SlurmJob(*line.split("|", 3)) for line in out.splitlines() if line.strip()]

    def processes(self, node: str, user: str = SSH_USER) -> list[str]:
        """``user``'s processes on ``node`` (pid and args), sshd's session processes aside."""
        out = self.node_exec(node, ["ps", "-u", user, "-o", "pid=,args="], check=False).stdout
        return [line.strip() for line in out.splitlines() if line.strip() and "sshd:" not in line]

    def cancel_all(self, user: str = SSH_USER) -> None:
        """scancel every job of ``user`` (cleanup between tests)."""
        self.node_exec(LOGIN_NODE, ["scancel", "-u", user], check=False)

    def fill_nodes(self, user: str = SSH_USER) -> list[str]:
        """Make every compute node busy with a sleep job of ``user`` (each takes the
        node's two CPUs, for five minutes at most); their job ids, once both run."""
        jobs = []
        for node in self.nodes:
            argv = ["sbatch", "--parsable", "-c", "2", "-w", node, "-t", "5", "--output=/dev/null"]
            done = self.node_exec(LOGIN_NODE, [*argv, "--wrap", "sleep 300"], user=user)
            jobs.append(done.stdout.strip())
        wait_for(
            lambda: (
                sorted(j.job_id for j in self.jobs(user) if j.state == "RUNNING") == sorted(jobs)
            ),
            30,
            "every node's sleep job to run",
        )
        return jobs

    def node_states(self) -> dict[str, str]:
        """Each compute node's state as sinfo says it (``idle``, ``alloc``, ``mix`` ...)."""
        out = self.node_exec(LOGIN_NODE, ["sinfo", "-h", "-N", "-o", "%N %T"], check=False).stdout
        return dict(line.split(None, 1) for line in out.splitlines() if " " in line)

    def wait_idle(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait (bounded) until every compute node is idle: registered, and no job left."""
        wait_for(
            lambda: all(self.node_states().get(node) == "idle" for node in self.nodes),
            timeout,
            f"sinfo to show {', '.join(self.nodes)} idle",
            interval=0.5,
        )


def _node(
    image: str,
    name: str,
    network: Network,
    home: Path,
    command: str,
    *,
    cap_add: Sequence[str] = (),
    role_label: str = TEST_LABEL,
) -> LoopbackContainer:
    return (
        LoopbackContainer(image)
        .with_command(command)
        .with_volume_mapping(str(home), "/home", "rw")
        .with_network(network)
        .with_network_aliases(name)
        .with_kwargs(labels=labels_for(role_label), hostname=name, cap_add=list(cap_add))
    )


def start_slurm_cluster(
    image: str,
    workdir: Path,
    *,
    keypair: KeyPair,
    alias: str = "jupyssh-login",
    role_label: str = TEST_LABEL,
) -> SlurmCluster:
    """Start login, c1 and c2; write ``workdir/known_hosts`` and ``workdir/ssh_config``
    (``alias``: the login node on 127.0.0.1, user ``sandbox``, ``keypair``); return once
    sinfo shows every compute node idle. A start that fails halfway removes what it started.
    ``role_label`` marks the containers and the network for cleanup (tests, the sandbox).
    """
    home = workdir / "home"
    home.mkdir(parents=True)
    home.chmod(0o755)
    host_key = generate_host_key(workdir / "host-keys")
    with ExitStack() as resources:
        network = create_network(role_label, prefix="jupyssh-slurm")
        resources.enter_context(network)
        login = (
            # NET_ADMIN (its own network namespace only): what SSHContainer.network_cut needs
            _node(
                image,
                LOGIN_NODE,
                network,
                home,
                "login",
                cap_add=["NET_ADMIN"],
                role_label=role_label,
            )
            .with_env("SSH_AUTHORIZED_KEYS", keypair.public_line)
            .with_volume_mapping(str(host_key.private_key.parent), _HOST_KEYS_MOUNT, "ro")
            .with_exposed_ports(SSH_PORT)
            .waiting_for(
                LogMessageWaitStrategy(SSHD_READY)
                .with_startup_timeout(STARTUP_TIMEOUT_S)
                .with_poll_interval(0.2)
            )
        )
        resources.callback(login.stop)
        login.start()
        nodes: dict[str, DockerContainer] = {}
        for name in COMPUTE_NODES:
            node = _node(image, name, network, home, "compute", role_label=role_label)
            resources.callback(node.stop)
            node.start()
            nodes[name] = node
        # the cluster owns the containers: the login host's own resources are empty
        host = reached_as(
            login, workdir, alias=alias, keypair=keypair, host_key=host_key,
            resources=ExitStack(),
        )  # fmt: skip
        cluster = SlurmCluster(login=host, nodes=nodes, home=home, _resources=resources.pop_all())
    try:
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    return cluster
