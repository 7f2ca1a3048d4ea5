"""Persistent reverse tunnels: install, inspect and remove them under systemd or a pidfile.

Three ways to keep ``ssh -R`` running, chosen by scope:

* ``system``: a unit in ``/etc/systemd/system`` with ``User=`` (needs root), started at
  boot;
* ``user``: a user unit in ``~/.config/systemd/user``; it runs at boot and after logout
  only with *linger* on, which is checked (the command to enable it is in the error);
* ``nohup``: no usable systemd (containers, some HPC login nodes): a detached restart loop
  around ssh, its pid in a pidfile, its output in a log file.

``auto`` picks system for root, else user when a user manager answers, else nohup.
Every tunnel is also recorded as JSON in ``<config>/tunnel/reverse/NAME.json``, which is
what ``list`` reads; ``remove`` deletes only units carrying :data:`MARKER` and stops only
the pid of its own pidfile after checking it is that tunnel's loop.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jupyssh.core.errors import (
    ConfigError,
    ForwardingError,
    JupysshError,
    OperationTimeout,
)
from jupyssh.core.paths import config_dir, ensure_private_dir, state_dir
from jupyssh.core.process import run_program
from jupyssh.core.ssh import classify_ssh_failure
from jupyssh.tunnel.errors import (
    NoLingerError,
    NoSystemdError,
    TunnelExistsError,
    TunnelNotFoundError,
)
from jupyssh.tunnel.reverse_spec import (
    MARKER,
    RESTART_SEC,
    Scope,
    TunnelSpec,
    render_unit,
)

__all__ = [
    "NoLingerError",
    "NoSystemdError",
    "ReverseStatus",
    "add_tunnel",
    "choose_scope",
    "list_tunnels",
    "remove_tunnel",
    "tunnel_logs",
    "tunnel_status",
]

# The names before every error class ended in "Error" (kept for older imports).
NoSystemd = NoSystemdError
NoLinger = NoLingerError

ScopeChoice = Literal["system", "user", "nohup", "auto"]
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
_SYSTEMCTL_TIMEOUT_S = 30.0
_PROBE_TIMEOUT_S = 20.0


# --- where things live ---------------------------------------------------------------------


def _registry() -> Path:
    return config_dir() / "tunnel" / "reverse"


def _spec_path(name: str) -> Path:
    return _registry() / f"{name}.json"


def _nohup_dir() -> Path:
    return state_dir() / "tunnel" / "reverse"


def _user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_path(spec: TunnelSpec) -> Path:
    """Where the unit of ``spec`` is (or would be) written."""
    folder = SYSTEM_UNIT_DIR if spec.scope == "system" else _user_unit_dir()
    return folder / spec.unit


# --- systemd --------------------------------------------------------------------------------


def _user_env() -> dict[str, str]:
    """The environment ``systemctl --user`` needs: without a PAM session (su, sudo, docker
    exec, cron) XDG_RUNTIME_DIR is unset and systemctl cannot find the user manager."""
    env = dict(os.environ)
    if not env.get("XDG_RUNTIME_DIR"):
        runtime = Path(f"/run/user/{os.getuid()}")
        if runtime.is_dir():
            env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


async def _systemctl(scope: Scope, *args: str, check: bool = True) -> str:
    argv = ["systemctl", *(["--user"] if scope == "user" else []), *args]
    done = await run_program(
        argv,
        timeout=_SYSTEMCTL_TIMEOUT_S,
        env=_user_env() if scope == "user" else None,
        what=" ".join(argv[:3]),
    )
    if check and done.returncode != 0:
        raise NoSystemdError(
            f"{' '.join(argv)} failed: {done.stderr_text.strip() or done.returncode}",
            hint="is systemd running here? use --scope nohup without it",
        )
    return done.stdout_text


async def _manager_answers(scope: Scope) -> bool:
    if shutil.which("systemctl") is None:
        return False
    if scope == "system" and not _systemd_booted():
        return False  # systemctl is installed, but systemd is not PID 1
    try:
        await _systemctl(scope, "show-environment")
    except (NoSystemdError, OperationTimeout):
        return False
    return True


def _systemd_booted() -> bool:
    """sd_booted(): systemd is PID 1 when this folder exists."""
    return Path("/run/systemd/system").is_dir()


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def linger_enabled(user: str) -> bool:
    """Whether ``loginctl enable-linger USER`` was run (systemd's own flag file)."""
    return Path("/var/lib/systemd/linger", user).exists()


async def choose_scope(choice: ScopeChoice) -> Scope:
    """The scope ``auto`` means here, or a check that the one asked for can work."""
    if choice == "nohup":
        return "nohup"
    if choice in ("system", "auto") and os.geteuid() == 0:
        if await _manager_answers("system"):
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
    if await _manager_answers("user"):
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
    if _spec_path(name).exists():
        raise TunnelExistsError(
            f"a reverse tunnel named {name!r} exists",
            hint=f"remove it first: jupyssh tunnel reverse remove {name}",
        )
    chosen = await choose_scope(scope)
    run_as = user or _current_user()
    if chosen != "system" and run_as != _current_user():
        raise ConfigError("--run-as is for system scope; other scopes run as you")
    if chosen == "user" and not linger_enabled(run_as):
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
        _start_loop(spec)
    else:
        await _install_unit(spec)
    _save(spec)
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


def _save(spec: TunnelSpec) -> None:
    path = _spec_path(spec.name)
    ensure_private_dir(path.parent)
    path.write_text(spec.to_json() + "\n", encoding="utf-8")


async def _install_unit(spec: TunnelSpec) -> None:
    path = unit_path(spec)
    if path.exists() and MARKER not in path.read_text(encoding="utf-8", errors="replace"):
        raise ConfigError(
            "a unit of that name exists and jupyssh did not write it",
            where=str(path),
            hint="choose another tunnel name",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_unit(spec, scope=spec.scope), encoding="utf-8")
    path.chmod(0o644)
    try:
        await _systemctl(spec.scope, "daemon-reload")
        await _systemctl(spec.scope, "enable", "--now", spec.unit)
    except BaseException:
        with contextlib.suppress(JupysshError):
            await _systemctl(spec.scope, "disable", "--now", spec.unit, check=False)
        path.unlink(missing_ok=True)
        with contextlib.suppress(JupysshError):
            await _systemctl(spec.scope, "daemon-reload", check=False)
        raise


# --- the nohup scope ------------------------------------------------------------------------


def _loop_name(spec: TunnelSpec) -> str:
    """``$0`` of the restart loop: what ``remove`` checks before it signals a pid."""
    return f"jupyssh-tunnel-{spec.name}"


def _pidfile(name: str) -> Path:
    return _nohup_dir() / f"{name}.pid"


def _logfile(name: str) -> Path:
    return _nohup_dir() / f"{name}.log"


def _start_loop(spec: TunnelSpec) -> None:
    """ssh in a ``sh`` restart loop, in a session of its own (it outlives this process),
    its output appended to the log. argv only: the loop's words are ``"$@"``."""
    ensure_private_dir(_nohup_dir())
    loop = (
        'while :; do "$@"; '
        f'echo "jupyssh: ssh exited with status $?; again in {RESTART_SEC} s" >&2; '
        f"sleep {RESTART_SEC}; done"
    )
    with _logfile(spec.name).open("ab") as log:
        os.chmod(log.name, 0o600)
        process = subprocess.Popen(
            ["/bin/sh", "-c", loop, _loop_name(spec), *spec.ssh_argv()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _pidfile(spec.name).write_text(f"{process.pid}\n", encoding="ascii")


def _loop_pid(spec: TunnelSpec) -> int | None:
    """The pid in the pidfile when it is still this tunnel's loop, else None."""
    try:
        pid = int(_pidfile(spec.name).read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if _loop_name(spec).encode() in cmdline else None


def _stop_loop(spec: TunnelSpec) -> None:
    pid = _loop_pid(spec)
    if pid is not None:
        # The loop leads its own session and process group: ssh goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _pidfile(spec.name).unlink(missing_ok=True)
    _logfile(spec.name).unlink(missing_ok=True)


# --- list, status, logs, remove -------------------------------------------------------------


def load_spec(name: str) -> TunnelSpec:
    path = _spec_path(name)
    try:
        return TunnelSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise TunnelNotFoundError(
            f"no reverse tunnel named {name!r}",
            hint="see them with: jupyssh tunnel reverse list",
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"unreadable tunnel record: {exc}", where=str(path)) from None


def list_tunnels() -> list[TunnelSpec]:
    """Every reverse tunnel recorded here, by name."""
    folder = _registry()
    if not folder.is_dir():
        return []
    return [load_spec(path.stem) for path in sorted(folder.glob("*.json"))]


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


async def _unit_state(spec: TunnelSpec) -> tuple[str, int | None]:
    out = await _systemctl(
        spec.scope, "show", "--property=ActiveState,MainPID", spec.unit, check=False
    )
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    pid = int(facts.get("MainPID", "0") or 0)
    return facts.get("ActiveState", "unknown"), pid or None


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
    spec = load_spec(name)
    if spec.scope == "nohup":
        pid = _loop_pid(spec)
        state, alive = ("running", True) if pid else ("stopped", False)
    else:
        state, pid = await _unit_state(spec)
        alive = state == "active" and pid is not None
    forward, detail = (await probe_forward(spec)) if probe else (None, "")
    return ReverseStatus(spec, state, pid, alive, forward, detail)


async def tunnel_logs(name: str, *, lines: int = 50) -> str:
    """The last ``lines`` lines the tunnel's ssh printed (journal, or the log file)."""
    spec = load_spec(name)
    if spec.scope == "nohup":
        path = _logfile(spec.name)
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
    argv = ["journalctl", *(["--user"] if spec.scope == "user" else [])]
    argv += ["-u", spec.unit, "-n", str(lines), "--no-pager", "-o", "short-iso"]
    done = await run_program(
        argv,
        timeout=_SYSTEMCTL_TIMEOUT_S,
        env=_user_env() if spec.scope == "user" else None,
        what="journalctl",
    )
    return done.stdout_text.rstrip("\n")


async def remove_tunnel(name: str) -> TunnelSpec:
    """Stop ``name`` and remove what jupyssh created for it: unit (or loop, pidfile and
    log) and record. Called by ``tunnel reverse remove``."""
    spec = load_spec(name)
    if spec.scope == "system" and os.geteuid() != 0:
        raise ConfigError(
            f"{name} is a system unit: removing it needs root",
            hint=f"sudo jupyssh tunnel reverse remove {name}",
        )
    if spec.scope == "nohup":
        _stop_loop(spec)
    else:
        path = unit_path(spec)
        await _systemctl(spec.scope, "disable", "--now", spec.unit, check=False)
        if path.exists() and MARKER in path.read_text(encoding="utf-8", errors="replace"):
            path.unlink()
        await _systemctl(spec.scope, "daemon-reload", check=False)
        # Only this unit's failed state: a bare reset-failed would clear everyone's.
        await _systemctl(spec.scope, "reset-failed", spec.unit, check=False)
    _spec_path(name).unlink(missing_ok=True)
    return spec
