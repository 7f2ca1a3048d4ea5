"""Containers and networks: testcontainers objects configured for this harness.

Rules every container here follows:

* ports are published on ``127.0.0.1`` only, on a free port the engine picks;
* labels ``org.jupyssh.harness=1`` plus a role label (``org.jupyssh.test=1`` for the test
  suite, ``org.jupyssh.sandbox=1`` for the demo sandbox), so :func:`cleanup` can remove
  whatever a killed run left behind (Ryuk, testcontainers' reaper, cannot be pulled);
* an explicit wait strategy with a bounded timeout.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy, LogMessageWaitStrategy

from ._common import HarnessError, log
from .engine import docker_client
from .images import HARNESS_LABEL
from .keys import KeyPair

__all__ = [
    "JUPYTER_PORT",
    "JUPYTER_ROOT_DIR",
    "OWNER_LABEL",
    "SANDBOX_LABEL",
    "SSHD_READY",
    "SSH_PORT",
    "SSH_USER",
    "STARTUP_TIMEOUT_S",
    "TEST_LABEL",
    "CleanupReport",
    "CleanupScope",
    "ExecResult",
    "LoopbackContainer",
    "cleanup",
    "configure_testcontainers",
    "create_network",
    "exec_in",
    "isolate_from_host",
    "jupyter_container",
    "published_port",
    "ssh_container",
]

TEST_LABEL = "org.jupyssh.test"
SANDBOX_LABEL = "org.jupyssh.sandbox"
#: The pid of the process that started a container or network: a cleanup at the start of
#: one run removes only what dead processes left, never a concurrent run's containers.
OWNER_LABEL = "org.jupyssh.owner"

SSH_USER = "sandbox"
SSH_PORT = 22
SSHD_PROGRAM = "/usr/sbin/sshd"
#: sshd options of a host unlike our images: the venv is not on a session's PATH (sshd's
#: default PATH, as on a stock Debian host, where there is no ``python`` either).
VENV_OFF_PATH = ("SetEnv=PATH=/usr/local/bin:/usr/bin:/bin",)
#: What ``sshd -D -e`` logs once it accepts connections (the ssh wait strategy).
SSHD_READY = r"Server listening on 0\.0\.0\.0 port 22"
JUPYTER_PORT = 8888
JUPYTER_ROOT_DIR = "/srv/jupyter"
STARTUP_TIMEOUT_S = 60
LOOPBACK = "127.0.0.1"

_HOST_KEYS_MOUNT = "/etc/jupyssh/host-keys"


def configure_testcontainers() -> None:
    """Point testcontainers at this harness's rules (idempotent): no Ryuk unless the
    environment asks for it, and containers reached on 127.0.0.1 through their published
    ports, even when the tests themselves run inside a container (``/.dockerenv``)."""
    if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
        testcontainers_config.ryuk_disabled = True
    if not os.environ.get("TESTCONTAINERS_CONNECTION_MODE"):
        testcontainers_config.connection_mode_override = ConnectionMode.docker_host
    if not os.environ.get("TC_HOST") and not os.environ.get("TESTCONTAINERS_HOST_OVERRIDE"):
        testcontainers_config.tc_host_override = LOOPBACK
    # The HTTP wait strategy uses urllib, which honours *_proxy: keep loopback direct.
    if any(os.environ.get(name) for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")):
        for name in ("no_proxy", "NO_PROXY"):
            entries = [e for e in os.environ.get(name, "").split(",") if e]
            missing = [host for host in (LOOPBACK, "localhost") if host not in entries]
            os.environ[name] = ",".join(entries + missing)


configure_testcontainers()


def labels_for(role_label: str) -> dict[str, str]:
    """The labels of everything the harness starts in a role, owned by this process."""
    return {HARNESS_LABEL: "1", role_label: "1", OWNER_LABEL: str(os.getpid())}


#: Whose containers a cleanup removes: everyone's, those of dead processes, or ours.
CleanupScope = Literal["all", "orphans", "mine"]


def _owner_alive(labels: dict[str, str] | None) -> bool:
    try:
        pid = int((labels or {})[OWNER_LABEL])
        os.kill(pid, 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def _in_scope(labels: dict[str, str] | None, scope: CleanupScope) -> bool:
    if scope == "all":
        return True
    if scope == "mine":
        return (labels or {}).get(OWNER_LABEL) == str(os.getpid())
    return not _owner_alive(labels)


class LoopbackContainer(DockerContainer):
    """A :class:`DockerContainer` whose exposed ports are published on 127.0.0.1 only (on a
    port the engine picks), never on all interfaces."""

    def _configure(self) -> None:
        super()._configure()
        # docker-py takes (host_ip,) for "this interface, any port"; testcontainers' own
        # with_bind_ports() only takes port numbers, hence the cast.
        ports = cast("dict[str, Any]", self.ports)
        for key in list(ports):
            ports[key] = (LOOPBACK,)


def published_port(container: DockerContainer, port: int) -> int:
    """The 127.0.0.1 port the engine published ``port`` on."""
    return int(container.get_exposed_port(port))


@dataclass(frozen=True)
class ExecResult:
    """What a command run inside a container did."""

    exit_code: int
    stdout: str
    stderr: str


def exec_in(
    container: DockerContainer,
    argv: Sequence[str],
    *,
    user: str = "root",
    check: bool = True,
    environment: Mapping[str, str] | None = None,
) -> ExecResult:
    """Run ``argv`` (no shell) in a running container as ``user``; raise on a non-zero exit
    when ``check``."""
    wrapped = container.get_wrapped_container()
    code, (out, err) = wrapped.exec_run(
        list(argv), user=user, demux=True, environment=dict(environment or {})
    )
    result = ExecResult(
        exit_code=int(code),
        stdout=(out or b"").decode(errors="replace"),
        stderr=(err or b"").decode(errors="replace"),
    )
    if check and result.exit_code != 0:
        raise HarnessError(
            f"{list(argv)} exited {result.exit_code} in {wrapped.name}: {result.stderr.strip()}"
        )
    return result


def ssh_container(
    image: str,
    *,
    authorized_key: str,
    host_keys_dir: Path,
    role_label: str,
    network: Network | None = None,
    aliases: Sequence[str] = (),
    publish: bool = True,
    cap_add: Sequence[str] = (),
    sshd_options: Sequence[str] = (),
) -> LoopbackContainer:
    """An sshd container (``containers/openssh``), not started yet.

    ``authorized_key`` is the public key line of user ``sandbox``; ``host_keys_dir`` holds
    ``ssh_host_ed25519_key[.pub]`` and is mounted read-only. Without ``publish`` the
    container has no published port (reachable only on ``network``). ``cap_add`` adds
    capabilities (``NET_ADMIN`` for :func:`isolate_from_host`). ``sshd_options`` are
    ``Keyword=value`` settings given to sshd with ``-o``: they win over the image's
    sshd_config (sshd keeps the first value it reads, and the command line comes first).
    """
    container = (
        LoopbackContainer(image)
        .with_env("SSH_AUTHORIZED_KEYS", authorized_key)
        .with_volume_mapping(str(host_keys_dir), _HOST_KEYS_MOUNT, "ro")
        .waiting_for(
            LogMessageWaitStrategy(SSHD_READY)
            .with_startup_timeout(STARTUP_TIMEOUT_S)
            .with_poll_interval(0.2)
        )
        .with_kwargs(labels=labels_for(role_label), cap_add=list(cap_add))
    )
    if publish:
        container.with_exposed_ports(SSH_PORT)
    if network is not None:
        container.with_network(network)
        if aliases:
            container.with_network_aliases(*aliases)
    if sshd_options:
        options = [word for option in sshd_options for word in ("-o", option)]
        container.with_command([SSHD_PROGRAM, "-D", "-e", *options])
    return container


def jupyter_sshd_container(
    image: str, *, keypair: KeyPair, host_key: KeyPair
) -> tuple[LoopbackContainer, str]:
    """A ``containers/jupyter-sshd`` container (not started yet) whose Jupyter server, with a
    fresh token, listens on the container's network and is published on 127.0.0.1 too (for
    ws-proxy and the benchmarks); returns it and the token."""
    token = secrets.token_hex(24)
    container = (
        ssh_container(
            image,
            authorized_key=keypair.public_line,
            host_keys_dir=host_key.private_key.parent,
            role_label=TEST_LABEL,
        )
        .with_env("JUPYTER_TOKEN", token)
        .with_env("JUPYTER_IP", "0.0.0.0")  # noqa: S104 - inside the container; published on 127.0.0.1
        .with_exposed_ports(JUPYTER_PORT)
    )
    return container, token


def jupyter_container(
    image: str,
    *,
    token: str,
    role_label: str,
    host_dir: Path | None = None,
    network: Network | None = None,
    aliases: Sequence[str] = (),
) -> LoopbackContainer:
    """A ``jupyter server`` container (``containers/jupyter``), not started yet; ready when
    ``GET /api/status`` with the token answers 200. ``host_dir`` is mounted read-write as the
    server's root_dir (made world-writable so the container's user can write there)."""
    container = (
        LoopbackContainer(image)
        .with_env("JUPYTER_TOKEN", token)
        .with_exposed_ports(JUPYTER_PORT)
        .waiting_for(
            HttpWaitStrategy(JUPYTER_PORT, "/api/status")
            .with_header("Authorization", f"token {token}")
            .for_status_code(200)
            .with_startup_timeout(STARTUP_TIMEOUT_S)
            .with_poll_interval(0.2)
        )
        .with_kwargs(labels=labels_for(role_label))
    )
    if host_dir is not None:
        host_dir.mkdir(parents=True, exist_ok=True)
        host_dir.chmod(0o777)
        container.with_volume_mapping(str(host_dir), JUPYTER_ROOT_DIR, "rw")
    if network is not None:
        container.with_network(network)
        if aliases:
            container.with_network_aliases(*aliases)
    return container


def create_network(role_label: str, *, prefix: str = "jupyssh", internal: bool = False) -> Network:
    """A labelled bridge network (not created yet: use it as a context manager).
    ``internal`` networks have no route out of the host."""
    network = Network(docker_network_kw={"labels": labels_for(role_label), "internal": internal})
    network.name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return network


def network_gateway(network: Network) -> str:
    """The host's address on a created network."""
    client = docker_client()
    try:
        attrs = client.networks.get(network.name).attrs
    finally:
        client.close()
    for config in attrs.get("IPAM", {}).get("Config") or []:
        gateway = config.get("Gateway")
        if gateway:
            return str(gateway)
    raise HarnessError(f"network {network.name} has no gateway")


def isolate_from_host(container: DockerContainer, network: Network) -> None:
    """Make a container unreachable from the host while its peers on ``network`` still
    reach it: drop its default route and prohibit the host's address on the network (the
    host has one on every bridge). Needs the container started with ``cap_add=NET_ADMIN``
    (its own network namespace only) and ``ip`` (iproute2) in the image."""
    gateway = network_gateway(network)
    exec_in(container, ["sh", "-c", "ip route del default 2>/dev/null || true"])
    exec_in(container, ["ip", "route", "add", "prohibit", f"{gateway}/32"])


@dataclass(frozen=True)
class CleanupReport:
    containers: int
    networks: int


def cleanup(role_label: str = TEST_LABEL, scope: CleanupScope = "all") -> CleanupReport:
    """Remove the containers (with their volumes) and networks labelled ``role_label=1``
    within ``scope``: ``"orphans"`` spares those whose owning process still runs."""
    client = docker_client()
    try:
        selector = {"label": f"{role_label}=1"}
        containers = [
            container
            for container in client.containers.list(all=True, filters=selector)
            if _in_scope(container.labels, scope)
        ]
        for container in containers:
            container.remove(force=True, v=True)
        networks = [
            network
            for network in client.networks.list(filters=selector)
            if _in_scope(network.attrs.get("Labels"), scope)
        ]
        for network in networks:
            network.remove()
    finally:
        client.close()
    report = CleanupReport(containers=len(containers), networks=len(networks))
    if report.containers or report.networks:
        log(f"removed {report.containers} containers, {report.networks} networks ({role_label})")
    return report
