"""jupyssh-tunnel: ws-proxy throughput against direct ssh, and reverse-tunnel recovery.

Throughput: 256 MB read through ``ssh`` from one ``containers/jupyter-sshd`` container,
once straight to its sshd (the baseline) and once through ``jupyssh tunnel ws-proxy`` as
ProxyCommand to jupyter-sshd-proxy behind jupyter-server-proxy in the same container (an
sshd of the same build, started by the Jupyter server). Same cipher, same client.

Recovery: a system-scope reverse tunnel (autossh under systemd, keepalive 5 s) on the
``lab`` container through an ``openssh`` bastion; seconds from killing the tunnel's ssh,
and from the bastion's sshd answering again after a container restart, until a real login
through the forwarded port works. The issue's target: back within 10 s of the bastion
answering again.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import Context
from jupyssh_harness import (
    SSH_USER,
    HostEntry,
    KeyPair,
    generate_keypair,
    prepare,
    write_known_hosts,
    write_ssh_config,
)
from jupyssh_harness.containers import (
    JUPYTER_PORT,
    LOOPBACK,
    SSH_PORT,
    exec_in,
    jupyter_sshd_container,
    published_port,
)
from jupyssh_harness.keys import generate_host_key
from jupyssh_harness.lab import REMOTE_PORT, build_project_wheels, start_reverse_env
from testcontainers.core.container import DockerContainer

SIZE = 256 * 1024 * 1024
DIRECT = "direct ssh (baseline)"
WSPROXY = "ssh via jupyssh ws-proxy"
RECOVERY = "autossh unit (system scope)"


def run(ctx: Context) -> None:
    images = prepare()
    with tempfile.TemporaryDirectory(prefix="jt-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        keypair = generate_keypair(root)
        _throughput(ctx, images["jupyter-sshd"].tag, keypair, root)
        _recovery(ctx, images["lab"].tag, images["openssh"].tag, keypair, root)


def _throughput(ctx: Context, image: str, keypair: KeyPair, root: Path) -> None:
    host_key = generate_host_key(root / "host-keys")
    container, token = jupyter_sshd_container(image, keypair=keypair, host_key=host_key)
    with container:
        _wait(lambda: _has_file(container, "/home/sandbox/.ssh/jupyter_sshd_hostkey.pub"))
        proxy_key = exec_in(container, ["cat", "/home/sandbox/.ssh/jupyter_sshd_hostkey.pub"])
        ssh_port = published_port(container, SSH_PORT)
        url = f"http://{LOOPBACK}:{published_port(container, JUPYTER_PORT)}/sshd/"
        known_hosts = write_known_hosts(
            root / "known_hosts",
            [
                (LOOPBACK, ssh_port, host_key.public_blob),
                ("ws", SSH_PORT, " ".join(proxy_key.stdout.split()[:2])),
            ],
        )
        program = shutil.which("jupyssh") or "jupyssh"
        common = {"ControlPath": "none", "Ciphers": "aes128-gcm@openssh.com"}
        direct = HostEntry(
            alias="direct",
            hostname=LOOPBACK,
            port=ssh_port,
            user=SSH_USER,
            identity_file=keypair.private_key,
            known_hosts=known_hosts,
            options=common,
        )
        proxy = f'{program} tunnel ws-proxy "{url}"'
        ws = dataclasses.replace(
            direct, alias="ws", options={"ProxyCommand": proxy, "HostKeyAlias": "ws", **common}
        )
        config = write_ssh_config(root / "ssh_config", [direct, ws])
        env = {**os.environ, "JUPYTER_TOKEN": token}
        samples = max(3, min(ctx.samples, 5))

        def transfer(alias: str) -> None:
            argv = ["ssh", "-F", str(config), alias, f"head -c {SIZE} /dev/zero"]
            with open(os.devnull, "wb") as sink:
                subprocess.run(
                    argv, stdout=sink, stdin=subprocess.DEVNULL, env=env, check=True, timeout=300
                )

        figures = {}
        for alias, variant in (("direct", DIRECT), ("ws", WSPROXY)):
            seconds = ctx.measure(functools.partial(transfer, alias), n=samples)
            rate = [SIZE / 1e6 / s for s in seconds]
            figures[variant] = ctx.record(
                "256 MB through ssh", variant, rate, unit="MB/s", lower_is_better=False
            )
        ratio = figures[WSPROXY].median / figures[DIRECT].median
        ctx.target("ws-proxy throughput relative to direct ssh", ratio, 0.8, at_most=False)
        # Where the time goes: CPU seconds of the Jupyter server's relay (one Python
        # process) and of this side (ssh plus ws-proxy) during one transfer.
        server_before = _server_cpu(container)
        client_before = _children_cpu()
        started = time.monotonic()
        transfer("ws")
        wall = time.monotonic() - started
        server = _server_cpu(container) - server_before
        client = _children_cpu() - client_before
        ctx.note(
            f"one ws-proxy transfer: {wall:.2f} s wall; jupyter-server-proxy's relay "
            f"(the Jupyter server process) {server:.2f} s CPU, ssh + ws-proxy here "
            f"{client:.2f} s CPU: neither side is CPU-bound (inference: the relay's added "
            "latency against ssh's 2 MB channel window bounds the rate)"
        )
        ctx.note(
            "throughput: `ssh alias head -c 256MiB /dev/zero`, aes128-gcm, client and "
            "containers on one machine"
        )


def _recovery(
    ctx: Context, lab_image: str, bastion_image: str, keypair: KeyPair, root: Path
) -> None:
    wheels = build_project_wheels(root / "wheels")
    with start_reverse_env(
        lab_image, bastion_image, wheels, keypair, root / "reverse", systemd=True
    ) as env:
        done = env.jupyssh(
            "tunnel", "reverse", "add", "lab", "bastion",
            "--remote-port", str(REMOTE_PORT), "--scope", "system", "--run-as", "sandbox",
            "--keepalive", "5",
        )  # fmt: skip
        if done.exit_code != 0:
            raise RuntimeError(f"reverse add failed: {done.stderr}")
        env.wait_through_tunnel(30)
        samples = max(3, min(ctx.samples, 5))
        after_kill: list[float] = []
        after_restart: list[float] = []
        for _ in range(samples):
            pid = next(
                line.split()[0]
                for line in env.tunnel_processes()
                if line.split()[1].endswith("/ssh")
            )
            env.lab_exec(["kill", "-9", pid])
            started = time.monotonic()
            env.wait_through_tunnel(60)
            after_kill.append(time.monotonic() - started)

            env.restart_bastion()
            # From the bastion's sshd answering again (its port accepts a login).
            _wait(lambda: _bastion_answers(env.config_file), timeout=60)
            started = time.monotonic()
            env.wait_through_tunnel(60)
            after_restart.append(time.monotonic() - started)
        ctx.record("back after the tunnel's ssh is killed", RECOVERY, after_kill)
        figure = ctx.record("back after the bastion restarts", RECOVERY, after_restart)
        ctx.target("back within 10 s of the bastion answering (p90)", figure.p90, 10.0, unit="s")
        env.jupyssh("tunnel", "reverse", "remove", "lab")


def _server_cpu(container: DockerContainer) -> float:
    """CPU seconds (user + system) the Jupyter server process has used so far."""
    stat = exec_in(
        container, ["sh", "-c", "cat /proc/$(pgrep -o -f bin/jupyter-server)/stat"]
    ).stdout
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bastion_answers(config: Path) -> bool:
    done = subprocess.run(
        ["ssh", "-F", str(config), "bastion", "true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def _has_file(container: DockerContainer, path: str) -> bool:
    return exec_in(container, ["test", "-s", path], check=False).exit_code == 0


def _wait(predicate: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's containers did not become ready")
        time.sleep(0.2)
