"""The ``nohup`` scope, where no systemd manager answers (containers, some HPC login
nodes): ssh in a detached ``sh`` restart loop, its pid in a pidfile, its output in a log.

``stop_loop`` signals the pid of the pidfile only after checking, in ``/proc``, that it
is still that tunnel's loop (its ``$0``), never a process that reused the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from jupyssh.core.paths import ensure_private_dir, state_dir
from jupyssh.tunnel.reverse.spec import RESTART_SEC, TunnelSpec

__all__ = ["loop_logs", "loop_pid", "start_loop", "stop_loop"]


def _nohup_dir() -> Path:
    return state_dir() / "tunnel" / "reverse"


def _loop_name(spec: TunnelSpec) -> str:
    """``$0`` of the restart loop: what ``stop_loop`` checks before it signals a pid."""
    return f"jupyssh-tunnel-{spec.name}"


def _pidfile(name: str) -> Path:
    return _nohup_dir() / f"{name}.pid"


def _logfile(name: str) -> Path:
    return _nohup_dir() / f"{name}.log"


def start_loop(spec: TunnelSpec) -> None:
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


def loop_pid(spec: TunnelSpec) -> int | None:
    """The pid in the pidfile when it is still this tunnel's loop, else None."""
    try:
        pid = int(_pidfile(spec.name).read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if _loop_name(spec).encode() in cmdline else None


def stop_loop(spec: TunnelSpec) -> None:
    """End the loop and its ssh (TERM, then KILL after 5 s); remove pidfile and log."""
    pid = loop_pid(spec)
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


def loop_logs(spec: TunnelSpec, lines: int) -> str:
    """The last ``lines`` lines of the loop's log."""
    path = _logfile(spec.name)
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
