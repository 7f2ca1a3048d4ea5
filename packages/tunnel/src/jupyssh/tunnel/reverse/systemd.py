"""The ``system`` and ``user`` scopes: a unit under systemd, installed, queried, removed.

``system``: a unit in ``/etc/systemd/system`` with ``User=`` (needs root), started at
boot. ``user``: a user unit in ``~/.config/systemd/user``; it runs at boot and after
logout only with *linger* on. Only units carrying :data:`~.spec.MARKER` are ever deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from jupyssh.core.errors import ConfigError, JupysshError, OperationTimeout
from jupyssh.core.process import run_program
from jupyssh.tunnel.errors import NoSystemdError
from jupyssh.tunnel.reverse.spec import MARKER, Scope, TunnelSpec, render_unit

__all__ = [
    "SYSTEM_UNIT_DIR",
    "install_unit",
    "linger_enabled",
    "manager_answers",
    "remove_unit",
    "unit_logs",
    "unit_path",
    "unit_state",
]

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
_SYSTEMCTL_TIMEOUT_S = 30.0


def _user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_path(spec: TunnelSpec) -> Path:
    """Where the unit of ``spec`` is (or would be) written."""
    folder = SYSTEM_UNIT_DIR if spec.scope == "system" else _user_unit_dir()
    return folder / spec.unit


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


async def manager_answers(scope: Scope) -> bool:
    """Whether a systemd manager of ``scope`` answers here (``systemctl show-environment``)."""
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


def linger_enabled(user: str) -> bool:
    """Whether ``loginctl enable-linger USER`` was run (systemd's own flag file)."""
    return Path("/var/lib/systemd/linger", user).exists()


async def install_unit(spec: TunnelSpec) -> None:
    """Write the unit of ``spec``, enable and start it; undone on any failure."""
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


async def remove_unit(spec: TunnelSpec) -> None:
    """Disable and stop the unit; delete its file only when jupyssh wrote it."""
    path = unit_path(spec)
    await _systemctl(spec.scope, "disable", "--now", spec.unit, check=False)
    if path.exists() and MARKER in path.read_text(encoding="utf-8", errors="replace"):
        path.unlink()
    await _systemctl(spec.scope, "daemon-reload", check=False)
    # Only this unit's failed state: a bare reset-failed would clear everyone's.
    await _systemctl(spec.scope, "reset-failed", spec.unit, check=False)


async def unit_state(spec: TunnelSpec) -> tuple[str, int | None]:
    """The unit's ActiveState and MainPID (None when it has no process)."""
    out = await _systemctl(
        spec.scope, "show", "--property=ActiveState,MainPID", spec.unit, check=False
    )
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    pid = int(facts.get("MainPID", "0") or 0)
    return facts.get("ActiveState", "unknown"), pid or None


async def unit_logs(spec: TunnelSpec, lines: int) -> str:
    """The unit's last ``lines`` journal lines."""
    argv = ["journalctl", *(["--user"] if spec.scope == "user" else [])]
    argv += ["-u", spec.unit, "-n", str(lines), "--no-pager", "-o", "short-iso"]
    done = await run_program(
        argv,
        timeout=_SYSTEMCTL_TIMEOUT_S,
        env=_user_env() if spec.scope == "user" else None,
        what="journalctl",
    )
    return done.stdout_text.rstrip("\n")
