"""Running hosts: an ssh host, a bastion chain and a Jupyter server.

``start_*`` start the containers and return a ready object (ssh config, known_hosts, URL,
token) that is also a context manager: leaving the ``with`` block, or calling ``stop()``,
removes its containers and network. A start that fails halfway removes what it started.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from typing_extensions import Self

from ._common import HarnessError
from .containers import (
    JUPYTER_PORT,
    JUPYTER_ROOT_DIR,
    LOOPBACK,
    SSH_PORT,
    SSH_USER,
    TEST_LABEL,
    ExecResult,
    create_network,
    exec_in,
    isolate_from_host,
    jupyter_container,
    published_port,
    ssh_container,
)
from .keys import KeyPair, generate_host_key, write_known_hosts
from .sshconfig import HostEntry, write_ssh_config

__all__ = [
    "BastionChain",
    "JupyterServer",
    "SSHContainer",
    "dead_port",
    "start_bastion_chain",
    "start_jupyter_server",
    "start_ssh_host",
]


class _Running:
    """Stops what it started: ``stop()``, or leave a ``with`` block. Idempotent."""

    _resources: ExitStack

    def stop(self) -> None:
        """Remove the containers (and network) this object started."""
        self._resources.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class SSHContainer(_Running):
    """A running sshd container reached as ``ssh -F <config_file> <alias>``.

    (Not :class:`jupyssh.core.ssh.SSHHost`, the client that drives OpenSSH to a host.)
    """

    alias: str
    hostname: str
    port: int
    user: str
    keypair: KeyPair
    host_key: KeyPair
    config_file: Path
    known_hosts: Path
    container: DockerContainer
    _resources: ExitStack = field(repr=False, compare=False)

    def entry(
        self, *, alias: str | None = None, port: int | None = None, known_hosts: Path | None = None
    ) -> HostEntry:
        """This host's ssh_config entry, optionally with another alias, port or known_hosts."""
        return HostEntry(
            alias=alias or self.alias,
            hostname=self.hostname,
            port=self.port if port is None else port,
            user=self.user,
            identity_file=self.keypair.private_key,
            known_hosts=known_hosts or self.known_hosts,
        )

    def ssh_argv(self, *command: str) -> list[str]:
        """``ssh -F <config_file> <alias> [command...]``."""
        return ["ssh", "-F", str(self.config_file), self.alias, *command]

    def exec(self, argv: Sequence[str], *, user: str = "root", check: bool = True) -> ExecResult:
        """Run ``argv`` inside the container (as root unless told otherwise), not over ssh."""
        return exec_in(self.container, argv, user=user, check=check)

    @contextmanager
    def network_cut(self) -> Iterator[None]:
        """Silently drop every packet between this host and the machine while the block
        runs; its processes keep running (a Wi-Fi drop, not a frozen host).

        The machine reaches a container from its network's gateway address (the published
        port's proxy or NAT), so a blackhole route to that address inside the container
        cuts both directions without an ICMP answer. Needs ``cap_add=["NET_ADMIN"]``.
        """
        route = self.exec(["ip", "route", "show", "default"]).stdout.split()
        if "via" not in route:
            raise HarnessError(f"no default route in {self.alias}: {' '.join(route)}")
        blackhole = ["blackhole", f"{route[route.index('via') + 1]}/32"]
        self.exec(["ip", "route", "add", *blackhole])
        try:
            yield
        finally:
            self.exec(["ip", "route", "del", *blackhole])

    def write_config(
        self,
        path: Path,
        *,
        alias: str | None = None,
        port: int | None = None,
        known_hosts: Path | None = None,
    ) -> Path:
        """Write an ssh_config holding :meth:`entry` with the given changes."""
        return write_ssh_config(path, [self.entry(alias=alias, port=port, known_hosts=known_hosts)])

    def config_with_changed_host_key(self, directory: Path) -> Path:
        """An ssh_config for the same alias, host and port whose known_hosts pins a
        *different* host key (what ssh sees after the server's key changed).
        Returns the config path; the known_hosts file sits next to it."""
        other = generate_host_key(directory / "other-host-key", comment="not-this-host")
        known_hosts = write_known_hosts(
            directory / "known_hosts", [(self.hostname, self.port, other.public_blob)]
        )
        return self.write_config(directory / "ssh_config", known_hosts=known_hosts)

    def config_with_port(self, directory: Path, port: int) -> Path:
        """An ssh_config for the same alias pointing at another port (e.g. :func:`dead_port`)."""
        return self.write_config(directory / "ssh_config", port=port)


@dataclass(frozen=True)
class BastionChain(_Running):
    """A bastion with a published port and a target reachable only through it.

    ``config_file`` holds ``bastion_alias`` (127.0.0.1, the published port) and
    ``target_alias`` (``HostName target_hostname``, ``ProxyJump bastion_alias``);
    ``known_hosts`` pins both host keys. The target has no published port and drops
    everything from the host, so only the bastion reaches it, over ``network``.
    """

    bastion_alias: str
    target_alias: str
    target_hostname: str
    bastion_port: int
    config_file: Path
    known_hosts: Path
    keypair: KeyPair
    bastion: DockerContainer
    target: DockerContainer
    network: str
    _resources: ExitStack = field(repr=False, compare=False)

    def ssh_argv(self, alias: str, *command: str) -> list[str]:
        """``ssh -F <config_file> <alias> [command...]``."""
        return ["ssh", "-F", str(self.config_file), alias, *command]

    def exec_bastion(
        self, argv: Sequence[str], *, user: str = "root", check: bool = True
    ) -> ExecResult:
        return exec_in(self.bastion, argv, user=user, check=check)

    def exec_target(
        self, argv: Sequence[str], *, user: str = "root", check: bool = True
    ) -> ExecResult:
        return exec_in(self.target, argv, user=user, check=check)

    def target_address(self) -> str:
        """The target's IP address on the chain network."""
        wrapped = self.target.get_wrapped_container()
        wrapped.reload()
        return str(wrapped.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"])


@dataclass(frozen=True)
class JupyterServer(_Running):
    """A running ``jupyter server``: ``url`` is ``http://127.0.0.1:<port>/``."""

    url: str
    token: str = field(repr=False)  # never in pytest's failure output
    port: int
    #: the server's root_dir inside the container
    root_dir: str
    #: the host folder mounted as root_dir, if any
    host_dir: Path | None
    container: DockerContainer
    _resources: ExitStack = field(repr=False, compare=False)

    def auth_header(self) -> dict[str, str]:
        """``{"Authorization": "token ..."}`` for REST and WebSocket requests."""
        return {"Authorization": f"token {self.token}"}

    def exec(self, argv: Sequence[str], *, user: str = "jupyter", check: bool = True) -> ExecResult:
        """Run ``argv`` inside the container (as the server's user unless told otherwise)."""
        return exec_in(self.container, argv, user=user, check=check)


def start_ssh_host(
    image: str,
    workdir: Path,
    *,
    keypair: KeyPair,
    alias: str = "jupyssh-sandbox",
    role_label: str = TEST_LABEL,
    network: Network | None = None,
    network_aliases: Sequence[str] = (),
    cap_add: Sequence[str] = (),
    sshd_options: Sequence[str] = (),
) -> SSHContainer:
    """Start an sshd container with a fresh host key; write ``workdir/known_hosts`` and
    ``workdir/ssh_config`` (``alias``: 127.0.0.1, the published port, user ``sandbox``,
    ``keypair``). ``workdir`` must not hold an earlier host's files. ``sshd_options``
    reshape the host (``VENV_OFF_PATH``). Use the result as a context manager, or call its
    ``stop()``."""
    host_key = generate_host_key(workdir / "host-keys")
    container = ssh_container(
        image,
        authorized_key=keypair.public_line,
        host_keys_dir=host_key.private_key.parent,
        role_label=role_label,
        network=network,
        aliases=network_aliases,
        cap_add=cap_add,
        sshd_options=sshd_options,
    )
    with ExitStack() as resources:
        resources.callback(container.stop)
        container.start()
        return reached_as(
            container, workdir, alias=alias, keypair=keypair, host_key=host_key,
            resources=resources.pop_all(),
        )  # fmt: skip


def reached_as(
    container: DockerContainer,
    workdir: Path,
    *,
    alias: str,
    keypair: KeyPair,
    host_key: KeyPair,
    resources: ExitStack,
) -> SSHContainer:
    """A started sshd container as ``ssh -F workdir/ssh_config ALIAS`` reaches it: its
    published port on 127.0.0.1, its host key pinned in ``workdir/known_hosts``, user
    ``sandbox`` with ``keypair``. ``resources`` stop it (empty when another owner does)."""
    port = published_port(container, SSH_PORT)
    known_hosts = write_known_hosts(
        workdir / "known_hosts", [(LOOPBACK, port, host_key.public_blob)]
    )
    entry = HostEntry(
        alias=alias,
        hostname=LOOPBACK,
        port=port,
        user=SSH_USER,
        identity_file=keypair.private_key,
        known_hosts=known_hosts,
    )
    return SSHContainer(
        alias=alias,
        hostname=LOOPBACK,
        port=port,
        user=SSH_USER,
        keypair=keypair,
        host_key=host_key,
        config_file=write_ssh_config(workdir / "ssh_config", [entry]),
        known_hosts=known_hosts,
        container=container,
        _resources=resources,
    )


def start_bastion_chain(
    image: str,
    workdir: Path,
    *,
    keypair: KeyPair,
    bastion_alias: str = "jupyssh-bastion",
    target_alias: str = "jupyssh-target",
    target_hostname: str = "target",
    role_label: str = TEST_LABEL,
) -> BastionChain:
    """Start a network, a target on it only (isolated from the host) and a bastion with a
    published port joined to it; write ``workdir/known_hosts`` and ``workdir/ssh_config``.
    Use the result as a context manager, or call its ``stop()``."""
    bastion_key = generate_host_key(workdir / "bastion-host-keys")
    target_key = generate_host_key(workdir / "target-host-keys")
    network = create_network(role_label, prefix="jupyssh-chain", internal=True)
    target = ssh_container(
        image,
        authorized_key=keypair.public_line,
        host_keys_dir=target_key.private_key.parent,
        role_label=role_label,
        network=network,
        aliases=[target_hostname],
        publish=False,
        cap_add=["NET_ADMIN"],
    )
    bastion = ssh_container(
        image,
        authorized_key=keypair.public_line,
        host_keys_dir=bastion_key.private_key.parent,
        role_label=role_label,
    )
    with ExitStack() as resources:
        network.create()
        resources.callback(network.remove)  # runs last: the containers leave first
        resources.callback(target.stop)
        target.start()
        isolate_from_host(target, network)
        resources.callback(bastion.stop)
        bastion.start()
        network.connect(bastion.get_wrapped_container().id, network_aliases=["bastion"])
        port = published_port(bastion, SSH_PORT)
        known_hosts = write_known_hosts(
            workdir / "known_hosts",
            [
                (LOOPBACK, port, bastion_key.public_blob),
                (target_hostname, SSH_PORT, target_key.public_blob),
            ],
        )

        def entry(alias: str, hostname: str, port: int, jump: str | None = None) -> HostEntry:
            return HostEntry(
                alias=alias,
                hostname=hostname,
                port=port,
                user=SSH_USER,
                identity_file=keypair.private_key,
                known_hosts=known_hosts,
                proxy_jump=jump,
            )

        config = write_ssh_config(
            workdir / "ssh_config",
            [
                entry(bastion_alias, LOOPBACK, port),
                entry(target_alias, target_hostname, SSH_PORT, bastion_alias),
            ],
        )
        return BastionChain(
            bastion_alias=bastion_alias,
            target_alias=target_alias,
            target_hostname=target_hostname,
            bastion_port=port,
            config_file=config,
            known_hosts=known_hosts,
            keypair=keypair,
            bastion=bastion,
            target=target,
            network=network.name,
            _resources=resources.pop_all(),
        )


def start_jupyter_server(
    image: str,
    *,
    token: str | None = None,
    host_dir: Path | None = None,
    role_label: str = TEST_LABEL,
    network: Network | None = None,
    network_aliases: Sequence[str] = (),
) -> JupyterServer:
    """Start ``jupyter server`` (token ``token`` or a random one); ready when
    ``/api/status`` answers 200 with the token. Use the result as a context manager, or
    call its ``stop()``."""
    token = token or secrets.token_hex(24)
    container = jupyter_container(
        image,
        token=token,
        role_label=role_label,
        host_dir=host_dir,
        network=network,
        aliases=network_aliases,
    )
    with ExitStack() as resources:
        resources.callback(container.stop)
        container.start()
        port = published_port(container, JUPYTER_PORT)
        return JupyterServer(
            url=f"http://{LOOPBACK}:{port}/",
            token=token,
            port=port,
            root_dir=JUPYTER_ROOT_DIR,
            host_dir=host_dir,
            container=container,
            _resources=resources.pop_all(),
        )


@contextmanager
def dead_port() -> Iterator[int]:
    """A 127.0.0.1 port where nothing listens, held (bound, never listening) while the
    context lasts so no one else takes it: connecting there is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        port = int(sock.getsockname()[1])
        if port <= 0:
            raise HarnessError("could not reserve a port on 127.0.0.1")
        yield port
    finally:
        sock.close()
