"""Persistent reverse tunnels: add, inspect and remove them, whatever the scope.

Three ways to keep ``ssh -R`` running, chosen by scope: ``system`` and ``user`` units
(:mod:`.systemd`), or a restart loop with a pidfile (:mod:`.nohup`). ``auto`` picks
system for root, else user when a user manager answers, else nohup. Every tunnel is
also recorded (:mod:`.registry`), which is what ``list`` reads.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jupyssh.core.errors import ConfigError, ForwardingError, OperationTimeout
from jupyssh.core.process import run_program
from jupyssh.core.ssh import classify_ssh_failure
from jupyssh.tunnel.errors import NoLingerError, NoSystemdError, TunnelExistsError
from jupyssh.tunnel.reverse import nohup, registry, systemd
from jupyssh.tunnel.reverse.spec import Scope, TunnelSpec

__all__ = [
    "ReverseStatus",
    "ScopeChoice",
    "add_tunnel",
    "choose_scope",
    "preflight",
    "probe_forward",
    "remove_tunnel",
    "tunnel_logs",
    "tunnel_status",
]

ScopeChoice = Literal["system", "user", "nohup", "auto"]
_PROBE_TIMEOUT_S = 20.0


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


async def choose_scope(choice: ScopeChoice) -> Scope:
    """The scope ``auto`` means here, or a check that the one asked for can work."""
    if choice == "nohup":
        return "nohup"
    if choice in ("system", "auto") and os.geteuid() == 0:
        if await systemd.manager_answers("system"):
            return "system"
        if choice == "system":
            raise NoSystemdError(
                "no systemd manager runs here (systemd is not PID 1)",
                hint="use --scope nohup: a restart loop with a pidfile",
            )
    if choice == "system":
        raise ConfigError(
            "system scope writes to /etc/systemd/system and needs root",
            hint="run it with sudo, or use --scope user",
        )
    if await systemd.manager_answers("user"):
        return "user"
    if choice == "user":
        raise NoSystemdError(
            "no systemd user manager answers (systemctl --user)",
            hint="log in through PAM (ssh, not su/sudo), enable linger, or use --scope nohup",
        )
    return "nohup"


# --- add ------------------------------------------------------------------------------------


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return getpass.getuser()


async def add_tunnel(
    name: str,
    *,
    via: str,
    remote_port: int,
    to: tuple[str, int] = ("127.0.0.1", 22),
    scope: ScopeChoice = "auto",
    user: str | None = None,
    config_file: str | None = None,
    remote_bind: str = "127.0.0.1",
    keepalive: int = 15,
    use_autossh: bool = True,
    check: bool = True,
) -> TunnelSpec:
    """Install and start the reverse tunnel ``name``; called by ``tunnel reverse add``.

    Fails with a typed error, installing nothing, when the name is taken, the scope cannot
    work here (no systemd, no root, no linger), or ``ssh`` is missing; with ``check``, also
    when one trial of the forward fails (bastion unreachable, its port taken or refused).
    Returns the spec.
    """
    if registry.spec_exists(name):
        raise TunnelExistsError(
            f"a reverse tunnel named {name!r} exists",
            hint=f"remove it first: jupyssh tunnel reverse remove {name}",
        )
    chosen = await choose_scope(scope)
    run_as = user or _current_user()
    if chosen != "system" and run_as != _current_user():
        raise ConfigError("--run-as is for system scope; other scopes run as you")
    if chosen == "user" and not systemd.linger_enabled(run_as):
        raise NoLingerError(
            f"linger is off for {run_as}: the tunnel would stop at logout and not start at boot",
            hint=f"enable it with: sudo loginctl enable-linger {run_as}",
        )
    ssh = shutil.which("ssh")
    if ssh is None:
        raise ConfigError("ssh (the OpenSSH client) is not on PATH", hint="install it")
    autossh = shutil.which("autossh") if use_autossh and chosen != "nohup" else None
    spec = TunnelSpec(
        name=name,
        via=via,
        remote_port=remote_port,
        to_host=to[0],
        to_port=to[1],
        remote_bind=remote_bind,
        scope=chosen,
        user=run_as,
        config_file=_absolute(config_file),
        keepalive=keepalive,
        ssh_program=ssh,
        autossh_program=autossh,
    )
    if check:
        await preflight(spec)
    if chosen == "nohup":
        nohup.start_loop(spec)
    else:
        await systemd.install_unit(spec)
    registry.save_spec(spec)
    return spec


def _as_tunnel_user(spec: TunnelSpec, argv: list[str]) -> list[str]:
    """Run ``argv`` as the tunnel's user (its keys and known_hosts), when root installs a
    system unit for someone else."""
    if os.geteuid() == 0 and spec.user and spec.user != "root":
        return ["runuser", "-u", spec.user, "--", *argv]
    return argv


async def preflight(spec: TunnelSpec) -> None:
    """Open the forward once, as the unit will, and close it: turns an unreachable
    bastion, a refused key, a port already bound there or refused by its sshd into one
    clear error before anything is installed. Called by :func:`add_tunnel`."""
    argv = _as_tunnel_user(spec, [*spec.ssh_argv()[:-2], "-T", "--", spec.via, "true"])
    argv.remove("-N")
    done = await run_program(argv, timeout=_PROBE_TIMEOUT_S + 10, what=f"trial of {spec.name}")
    if done.returncode == 0:
        return
    error = classify_ssh_failure(done.stderr_text, where=spec.via)
    if isinstance(error, ForwardingError):
        raise ForwardingError(
            f"the bastion refused to listen on {spec.remote_bind}:{spec.remote_port}",
            where=spec.via,
            hint="the port is taken there (another tunnel, or a stale session of this one: "
            "choose another or wait for the bastion's ClientAlive timeout), or its sshd "
            "forbids it (AllowTcpForwarding, PermitListen)",
            stderr=error.stderr,
        ) from None
    raise error


# --- status, logs, remove ------------------------------------------------------------------


@dataclass(frozen=True)
class ReverseStatus:
    """Whether a tunnel's process runs and whether its port answers on the bastion."""

    spec: TunnelSpec
    #: the unit's ActiveState, or "running" / "stopped" for the nohup scope
    state: str
    pid: int | None
    process_alive: bool
    #: None when not probed
    forward_alive: bool | None
    detail: str = ""

    @property
    def alive(self) -> bool:
        return self.process_alive and bool(self.forward_alive)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "scope": self.spec.scope,
            "via": self.spec.via,
            "remote_port": self.spec.remote_port,
            "to": f"{self.spec.to_host}:{self.spec.to_port}",
            "state": self.state,
            "pid": self.pid,
            "process_alive": self.process_alive,
            "forward_alive": self.forward_alive,
            "alive": self.alive,
            "detail": self.detail,
        }


async def probe_forward(spec: TunnelSpec) -> tuple[bool, str]:
    """Connect through the bastion to the forwarded port (``ssh -W``), as the tunnel's
    user; True when something answers there."""
    argv = _as_tunnel_user(spec, spec.probe_argv())
    try:
        done = await run_program(
            argv, input=b"", timeout=_PROBE_TIMEOUT_S, what=f"probe of {spec.name}"
        )
    except OperationTimeout:
        return False, "the probe through the bastion timed out"
    stderr = done.stderr_text
    if "open failed" in stderr or done.returncode != 0:
        line = next((t for t in stderr.splitlines() if t.strip()), f"exit {done.returncode}")
        return False, line.strip()
    return True, ""


async def tunnel_status(name: str, *, probe: bool = True) -> ReverseStatus:
    """The process and, with ``probe``, the forward of ``name``; called by ``status``."""
    spec = registry.load_spec(name)
    if spec.scope == "nohup":
        pid = nohup.loop_pid(spec)
        state, alive = ("running", True) if pid else ("stopped", False)
    else:
        state, pid = await systemd.unit_state(spec)
        alive = state == "active" and pid is not None
    forward, detail = (await probe_forward(spec)) if probe else (None, "")
    return ReverseStatus(spec, state, pid, alive, forward, detail)


async def tunnel_logs(name: str, *, lines: int = 50) -> str:
    """The last ``lines`` lines the tunnel's ssh printed (journal, or the log file)."""
    spec = registry.load_spec(name)
    if spec.scope == "nohup":
        return nohup.loop_logs(spec, lines)
    return await systemd.unit_logs(spec, lines)


async def remove_tunnel(name: str) -> TunnelSpec:
    """Stop ``name`` and remove what jupyssh created for it: unit (or loop, pidfile and
    log) and record. Called by ``tunnel reverse remove``."""
    spec = registry.load_spec(name)
    if spec.scope == "system" and os.geteuid() != 0:
        raise ConfigError(
            f"{name} is a system unit: removing it needs root",
            hint=f"sudo jupyssh tunnel reverse remove {name}",
        )
    if spec.scope == "nohup":
        nohup.stop_loop(spec)
    else:
        await systemd.remove_unit(spec)
    registry.delete_spec(name)
    return spec
