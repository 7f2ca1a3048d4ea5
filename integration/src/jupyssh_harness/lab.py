"""A lab machine and a bastion on one network: jupyssh-tunnel's reverse-tunnel tests and bench.

The lab (``containers/lab``) runs systemd as PID 1 (or, for the no-systemd fallback, only
sshd under tini), holds jupyssh installed from the project's freshly built wheels, and
reaches the bastion (``containers/openssh``) as ``bastion`` on the network. From the
test's side, the lab's sshd is reached *only* through the bastion's forwarded port:
``ssh -F config lab-via-tunnel`` jumps through the bastion's published port to
``127.0.0.1:REMOTE_PORT`` there.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from testcontainers.core.network import Network

from ._common import HarnessError, repo_root
from .containers import (
    LOOPBACK,
    SSH_PORT,
    SSH_USER,
    TEST_LABEL,
    ExecResult,
    LoopbackContainer,
    create_network,
    exec_in,
    labels_for,
    published_port,
    ssh_container,
)
from .keys import KeyPair, generate_host_key, write_known_hosts
from .sshconfig import HostEntry, write_ssh_config

__all__ = ["REMOTE_PORT", "ReverseEnv", "build_project_wheels", "start_reverse_env"]

REMOTE_PORT = 2222
LAB_HOME = "/home/sandbox"
#: Seconds a port holder lives at most, should nothing stop it.
HOLDER_LIFETIME_S = 300

#: Listens on a port of 127.0.0.1 that the kernel picks, then writes ``listening PORT PID``
#: (or ``error REASON``) to the FIFO argv[1] and sleeps argv[2] seconds.
_PORT_HOLDER = """\
import os, socket, sys, time
with open(sys.argv[1], "w") as report:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    except OSError as exc:
        report.write(f"error {exc}\\n")
        sys.exit(1)
    report.write(f"listening {sock.getsockname()[1]} {os.getpid()}\\n")
time.sleep(float(sys.argv[2]))
"""
#: Starts the holder ($1, lifetime $2) in the background and prints what it reports, so
#: that this exec ends once the holder listens or failed (at most $3 seconds); a holder
#: that never reports is stopped, and its output printed instead.
_START_PORT_HOLDER = """\
fifo=$(mktemp -u /tmp/port-holder.XXXXXX)
mkfifo "$fifo"
/opt/venv/bin/python -c "$1" "$fifo" "$2" >"$fifo.log" 2>&1 &
holder=$!
timeout "$3" cat "$fifo"
status=$?
rm -f "$fifo"
if [ "$status" -ne 0 ]; then
    kill "$holder" 2>/dev/null
    echo "no report within $3 s (cat: $status): $(cat "$fifo.log")"
    exit 1
fi
rm -f "$fifo.log"
"""


def build_project_wheels(
    out: Path, packages: Sequence[str] = ("core", "tunnel"), *, compiled: bool = False
) -> list[Path]:
    """Wheels of the jupyssh ``packages`` (default jupyssh-core and jupyssh-tunnel) from
    the working tree: pure Python, so that they install on the containers' CPython whatever
    the host's; ``compiled`` keeps the accelerators (the wheels then need the host's CPython
    version in the container too)."""
    env = dict(os.environ)
    if not compiled:
        env["JUPYSSH_NO_EXTENSIONS"] = "1"
    for package in packages:
        subprocess.run(
            ["uv", "build", "--wheel", "--quiet", "--out-dir", str(out),
             str(repo_root() / "packages" / package)],
            check=True, timeout=300, capture_output=True, env=env,
        )  # fmt: skip
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != len(packages):
        raise RuntimeError(f"expected {len(packages)} wheels in {out}, found {wheels}")
    return wheels


def _put_files(container: LoopbackContainer, folder: str, files: dict[str, bytes]) -> None:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.uid = info.gid = 1000
            tar.addfile(info, io.BytesIO(data))
    container.get_wrapped_container().put_archive(folder, stream.getvalue())


@dataclass
class ReverseEnv:
    """The running pair, and the ways the tests look at it."""

    lab: LoopbackContainer
    bastion: LoopbackContainer
    keypair: KeyPair
    workdir: Path
    bastion_key_blob: str
    lab_key_blob: str
    config_file: Path

    def lab_exec(self, argv: list[str], *, user: str = "root", check: bool = True) -> ExecResult:
        env = {"XDG_RUNTIME_DIR": "/run/user/1000"} if user == SSH_USER else {}
        return exec_in(self.lab, argv, user=user, check=check, environment=env)

    def jupyssh(self, *args: str, user: str = "root") -> ExecResult:
        """``jupyssh ARGS`` on the lab machine, as ``user``."""
        return self.lab_exec(["/opt/venv/bin/jupyssh", *args], user=user, check=False)

    def write_host_config(self) -> None:
        """(Re)write the test's ssh config: the bastion's published port may change when
        it restarts."""
        known_hosts = write_known_hosts(
            self.workdir / "known_hosts",
            [
                (LOOPBACK, published_port(self.bastion, SSH_PORT), self.bastion_key_blob),
                ("lab-via-tunnel", SSH_PORT, self.lab_key_blob),
            ],
        )

        def entry(alias: str, host: str, port: int, **options: str) -> HostEntry:
            return HostEntry(
                alias=alias,
                hostname=host,
                port=port,
                user=SSH_USER,
                identity_file=self.keypair.private_key,
                known_hosts=known_hosts,
                options={"ControlPath": "none", "ConnectTimeout": "3", **options},
            )

        write_ssh_config(
            self.config_file,
            [
                entry("bastion", LOOPBACK, published_port(self.bastion, SSH_PORT)),
                entry(
                    "lab-via-tunnel",
                    "127.0.0.1",
                    REMOTE_PORT,
                    ProxyJump="bastion",
                    HostKeyAlias="lab-via-tunnel",
                ),
            ],
        )

    def through_tunnel(self) -> bool:
        """Whether the lab's sshd answers at the bastion's forwarded port (a real login)."""
        done = subprocess.run(
            ["ssh", "-F", str(self.config_file), "lab-via-tunnel", "cat", "/etc/jupyssh-lab"],
            capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return done.returncode == 0 and done.stdout.strip() == "lab"

    def wait_through_tunnel(self, timeout: float) -> float:
        """Seconds until :meth:`through_tunnel` holds; raises after ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.through_tunnel():
                return time.monotonic() - started
            time.sleep(0.25)
        raise TimeoutError(f"the lab was not reachable through the tunnel within {timeout} s")

    def restart_bastion(self) -> None:
        self.bastion.get_wrapped_container().restart(timeout=2)
        self.write_host_config()

    @contextmanager
    def hold_bastion_port(self, timeout: float = 10.0) -> Iterator[int]:
        """A port of the bastion's 127.0.0.1 that a process there listens on, so that a
        forward asking for it is refused; stopped on the way out.

        The kernel picks the port: a fixed one may still be held for a minute after an
        earlier test, in TIME-WAIT, by a connection through its tunnel that sshd closed
        first (it does when the tunnel's ssh is killed), and then binding it fails.
        Returns once the holder itself says it listens; raises with its reason if not.
        """
        argv = ["sh", "-c", _START_PORT_HOLDER, "sh", _PORT_HOLDER, str(HOLDER_LIFETIME_S)]
        done = exec_in(self.bastion, [*argv, f"{timeout:g}"], check=False)
        report = done.stdout.split()
        if done.exit_code != 0 or report[:1] != ["listening"]:
            said = (done.stdout + done.stderr).strip()
            raise HarnessError(f"the port holder on the bastion did not listen: {said}")
        port, pid = int(report[1]), report[2]
        try:
            yield port
        finally:
            exec_in(self.bastion, ["kill", pid], check=False)

    def tunnel_processes(self) -> list[str]:
        """Every ssh/autossh process holding the -R forward on the lab."""
        out = self.lab_exec(["ps", "-eo", "pid=,args="]).stdout
        return [
            line.strip()
            for line in out.splitlines()
            if f":{REMOTE_PORT}:" in line and ("ssh" in line) and "ps -eo" not in line
        ]


def _lab_container(image: str, network: Network, *, systemd: bool) -> LoopbackContainer:
    container = LoopbackContainer(image).with_network(network).with_network_aliases("lab")
    if systemd:
        # systemd as PID 1 without --privileged (design.md, "The container harness").
        container.with_volume_mapping("/sys/fs/cgroup", "/sys/fs/cgroup", "rw")
        container.with_tmpfs_mount("/run").with_tmpfs_mount("/run/lock")
        container.with_kwargs(labels=labels_for(TEST_LABEL), cgroupns="host")
    else:
        container.with_command("/usr/bin/tini -- /usr/sbin/sshd -D -e").with_kwargs(
            labels=labels_for(TEST_LABEL)
        )
    return container


def _wait_lab_ready(env: ReverseEnv, *, systemd: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    probe = ["systemctl", "is-active", "ssh"] if systemd else ["pgrep", "-x", "sshd"]
    while time.monotonic() < deadline:
        if env.lab_exec(probe, check=False).exit_code == 0:
            return
        time.sleep(0.25)
    raise TimeoutError("the lab's sshd did not start")


def _prepare_lab(env: ReverseEnv, wheels: list[Path]) -> None:
    lab = env.lab
    env.lab_exec(["sh", "-c", "echo lab > /etc/jupyssh-lab"])
    _put_files(lab, "/tmp", {w.name: w.read_bytes() for w in wheels})
    env.lab_exec(
        ["/opt/venv/bin/pip", "install", "--quiet", "--no-deps", "--no-index"]
        + [f"/tmp/{w.name}" for w in wheels]
    )
    ssh_dir = f"{LAB_HOME}/.ssh"
    env.lab_exec(["install", "-d", "-m", "0700", "-o", "sandbox", "-g", "sandbox", ssh_dir])
    client_config = (
        "Host bastion\n"
        "    HostName bastion\n"
        "    User sandbox\n"
        "    IdentityFile ~/.ssh/id_ed25519\n"
        "    IdentitiesOnly yes\n"
        "    UserKnownHostsFile ~/.ssh/known_hosts\n"
        "    StrictHostKeyChecking yes\n"
    )
    _put_files(
        lab,
        ssh_dir,
        {
            "id_ed25519": env.keypair.private_key.read_bytes(),
            "authorized_keys": (env.keypair.public_line + "\n").encode(),
            "known_hosts": f"bastion {env.bastion_key_blob}\n".encode(),
            "config": client_config.encode(),
        },
    )


@contextmanager
def start_reverse_env(
    lab_image: str,
    bastion_image: str,
    wheels: list[Path],
    keypair: KeyPair,
    workdir: Path,
    *,
    systemd: bool,
) -> Iterator[ReverseEnv]:
    """Start the network, the bastion and the lab; remove them all on the way out."""
    bastion_key = generate_host_key(workdir / "bastion-host-keys")
    network = create_network(TEST_LABEL, prefix="jupyssh-reverse")
    bastion = ssh_container(
        bastion_image,
        authorized_key=keypair.public_line,
        host_keys_dir=bastion_key.private_key.parent,
        role_label=TEST_LABEL,
        network=network,
        aliases=["bastion"],
    )
    lab = _lab_container(lab_image, network, systemd=systemd)
    with ExitStack() as stack:
        network.create()
        stack.callback(network.remove)
        stack.callback(bastion.stop)
        bastion.start()
        stack.callback(lab.stop)
        lab.start()
        env = ReverseEnv(
            lab=lab,
            bastion=bastion,
            keypair=keypair,
            workdir=workdir,
            bastion_key_blob=bastion_key.public_blob,
            lab_key_blob="",
            config_file=workdir / "ssh_config",
        )
        _wait_lab_ready(env, systemd=systemd)
        lab_pub = env.lab_exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()
        env.lab_key_blob = f"{lab_pub[0]} {lab_pub[1]}"
        _prepare_lab(env, wheels)
        env.write_host_config()
        yield env
