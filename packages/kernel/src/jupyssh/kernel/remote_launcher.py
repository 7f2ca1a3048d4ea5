# Runs on the remote host's Python (3.7 and later): no PEP 604/585 syntax, no zip(strict=),
# plain try/except where it reads as the protocol; one function per mode.
# ruff: noqa: UP006, UP032, UP035, UP045, B905, TRY300, TRY301, SIM105, PLR0912, PLC0415
"""The remote half of jupyssh-kernel: starts one kernel on the ssh host and watches it.

This file is never installed on the remote host. The local side sends its text on the ssh
session's stdin (``python -c <bootstrap>`` reads it), followed by one JSON line of
parameters (the session key among them, so it never appears in argv), and then keeps the
session open: the script's stdout carries events back, its stdin carries signal requests.
It runs on Python 3.7 and later and uses the standard library only (``jupyter_core`` if
importable, to find kernelspecs the way Jupyter does).

Modes (``params["mode"]``):

- ``start``: pick 127.0.0.1 ports (or Unix sockets in a private 0700 folder), write the
  connection file (0600) there, start the kernelspec's argv in a session of its own, print
  ``ready`` with the ports, then watch.
- ``watch``: take over watching a kernel that runs already (after the ssh link was lost,
  or to re-attach a persistent kernel): print ``alive`` or ``exit``, then watch.
- ``specs``: print the host's kernelspecs and the launcher python's version, and end.

Watching: one line per event on stdout (``JUPYSSH {json}``); ``signal N`` lines on stdin are
delivered to the kernel's process group. A newer watcher claims the kernel by writing its
pid to ``<folder>/watcher``; an older one then leaves quietly. When the session's stdin
closes (the ssh link is gone) a persistent kernel is left running; any other kernel is left
running for ``linger`` seconds so a new watcher can claim it, then terminated.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

PREFIX = "JUPYSSH "
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
POLL_SECONDS = 0.05  # how fast an exit is reported (a shutdown waits for it)
TERM_GRACE_SECONDS = 3.0


class LaunchError(Exception):
    """A launch that cannot go on; ``kind`` tells the local side which typed error to raise."""

    def __init__(self, kind: str, message: str) -> None:
        Exception.__init__(self, message)
        self.kind = kind
        self.message = message


#: The name before every error class ended in ``Error``.
LaunchFailure = LaunchError


def emit(event: str, **facts: Any) -> None:
    facts["event"] = event
    sys.stdout.write(PREFIX + json.dumps(facts) + "\n")
    sys.stdout.flush()


def kernel_dirs() -> List[str]:
    """Jupyter's kernelspec search path on this host, user folders first."""
    try:
        from jupyter_core.paths import jupyter_path

        return list(jupyter_path("kernels"))
    except ImportError:
        home = os.path.expanduser("~")
        dirs = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
        dirs.append(os.path.join(home, ".local", "share", "jupyter"))
        dirs += [os.path.join(sys.prefix, "share", "jupyter"), "/usr/local/share/jupyter"]
        dirs.append("/usr/share/jupyter")
        return [os.path.join(d, "kernels") for d in dirs]


def all_kernelspecs() -> Dict[str, Dict[str, Any]]:
    """Every kernelspec found on this host: ``{name: {"resource_dir":..., "spec":...}}``."""
    found: Dict[str, Dict[str, Any]] = {}
    for folder in kernel_dirs():
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name, "kernel.json")
            if name.lower() in found or not os.path.isfile(path):
                continue
            try:
                with open(path) as handle:
                    spec = json.load(handle)
            except (OSError, ValueError):
                continue
            found[name.lower()] = {"resource_dir": os.path.dirname(path), "spec": spec}
    if "python3" not in found:
        # ipykernel's built-in spec, present whenever ipykernel is importable.
        found["python3"] = {
            "resource_dir": "",
            "spec": {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "builtin": True,
            },
        }
    return found


def find_kernelspec(name: str) -> Dict[str, Any]:
    specs = all_kernelspecs()
    if name.lower() in specs:
        return specs[name.lower()]
    raise LaunchError(
        "kernelspec-missing",
        "no kernelspec named {!r} on this host (found: {})".format(name, ", ".join(sorted(specs))),
    )


def private_folder(wanted: Optional[str]) -> str:
    """A 0700 folder for the connection file and sockets: ``wanted`` again if it can be
    made afresh (a restart keeps its socket paths), else a new one."""
    if wanted:
        try:
            os.mkdir(wanted, 0o700)
            return wanted
        except OSError:
            pass
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    if not os.path.isdir(base) or not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="jupyssh-", dir=base)


def pick_ports(wanted: Optional[List[int]]) -> List[int]:
    """Five free 127.0.0.1 ports: ``wanted`` when all are free (a restart keeps them)."""
    if wanted and len(wanted) == len(PORT_NAMES):
        held: List[socket.socket] = []
        try:
            for port in wanted:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind(("127.0.0.1", int(port)))
            return [int(p) for p in wanted]
        except OSError:
            pass
        finally:
            for sock in held:
                sock.close()
    held = []
    try:
        for _name in PORT_NAMES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def connection_info(params: Dict[str, Any], folder: str) -> Dict[str, Any]:
    info: Dict[str, Any]
    if params.get("transport") == "ipc":
        info = {"transport": "ipc", "ip": os.path.join(folder, "k")}
        ports = [1, 2, 3, 4, 5]
    else:
        info = {"transport": "tcp", "ip": "127.0.0.1"}
        ports = pick_ports(params.get("ports"))
    info.update(zip(PORT_NAMES, ports))
    info["key"] = params["key"]
    info["signature_scheme"] = params.get("signature_scheme", "hmac-sha256")
    info["kernel_name"] = params["kernel"]
    return info


def write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def kernel_argv(spec: Dict[str, Any], resource_dir: str, connection_file: str) -> List[str]:
    argv = spec.get("argv") or []
    if not argv:
        raise LaunchFailure("kernelspec-invalid", "the kernelspec has an empty argv")
    return [
        a.replace("{connection_file}", connection_file).replace("{resource_dir}", resource_dir)
        for a in argv
    ]


def start(params: Dict[str, Any]) -> Tuple[Any, str, Dict[str, Any]]:
    """Start the kernel; return (pid, folder, info)."""
    found = find_kernelspec(params["kernel"])
    cwd = params.get("cwd") or None
    if cwd:
        cwd = os.path.expanduser(cwd)
        if not os.path.isdir(cwd):
            raise LaunchFailure("cwd-missing", "working directory {!r} does not exist".format(cwd))
    folder = private_folder(params.get("folder"))
    try:
        info = connection_info(params, folder)
        connection_file = os.path.join(folder, "kernel.json")
        write_private(connection_file, json.dumps(info))
        argv = kernel_argv(found["spec"], found["resource_dir"], connection_file)
        env = dict(os.environ)
        env.update(found["spec"].get("env") or {})
        log = os.open(os.path.join(folder, "kernel.log"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise LaunchFailure("kernel-exec", "cannot run {}: {}".format(argv[0], exc)) from None
        finally:
            os.close(log)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    info.pop("key")
    return proc, folder, info


def is_running(pid: int) -> bool:
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        pass
    except IndexError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_time(pid: int) -> Optional[int]:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22); None
    where /proc does not say."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def is_kernel(pid: int, started: Optional[int]) -> bool:
    """``pid`` still is the kernel this launcher (or an earlier one) started, not a process
    that reused its pid: alive, the leader of its own session (kernels start in one), and
    started when the launch recorded (where /proc tells; ``started`` None: not recorded)."""
    if not is_running(pid):
        return False
    try:
        if os.getsid(pid) != pid:
            return False
    except OSError:
        return False
    return started is None or start_time(pid) in (None, started)


def read_commands(commands: queue.Queue[Optional[str]]) -> None:
    """Thread: forward stdin lines to ``commands``; ``None`` marks end of input."""
    stream = sys.stdin.buffer
    while True:
        line = stream.readline()
        if not line:
            commands.put(None)
            return
        commands.put(line.decode("ascii", "replace").strip())


def signal_kernel(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except OSError:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def claimed_by_other(folder: str) -> bool:
    try:
        with open(os.path.join(folder, "watcher")) as handle:
            return handle.read().strip() != str(os.getpid())
    except OSError:
        return False


def claim(folder: str) -> None:
    write_private(os.path.join(folder, "watcher"), str(os.getpid()))


def terminate(pid: int, child: Any) -> None:
    signal_kernel(pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return
        if child is None and not is_running(pid):
            return
        time.sleep(0.05)
    signal_kernel(pid, signal.SIGKILL)
    if child is not None:
        child.wait()


def watch(pid: int, folder: str, child: Any, params: Dict[str, Any]) -> None:
    """Report the kernel's exit, deliver signals, hand over to a newer watcher.

    Commands on stdin: ``attached`` (the local side is set up), ``persist`` (leave the
    kernel running when the session ends), ``signal N``. The end of stdin before
    ``attached`` in ``start`` mode means the launch failed locally: the kernel goes too.
    """
    commands: queue.Queue[Optional[str]] = queue.Queue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
    linger = float(params.get("linger", 600))
    persistent = bool(params.get("persistent"))
    attached = False
    orphaned_at: Optional[float] = None
    while True:
        if child is not None:
            code = child.poll()
            running = code is None
        else:
            # Re-attached: only the pid is known, so check it is still the kernel before
            # every signal this loop may deliver (a reused pid must never be signalled).
            running = is_kernel(pid, params.get("started"))
            code = -1
        if not running:
            shutil.rmtree(folder, ignore_errors=True)
            if orphaned_at is None:
                emit("exit", code=code)
            return
        if claimed_by_other(folder):
            return
        if orphaned_at is not None:
            if persistent:
                return
            if time.monotonic() - orphaned_at > linger:
                terminate(pid, child)
                shutil.rmtree(folder, ignore_errors=True)
                return
            time.sleep(POLL_SECONDS * 5)
            continue
        try:
            command = commands.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if command is None:
            if attached:
                orphaned_at = time.monotonic()
            elif params["mode"] == "start":
                terminate(pid, child)
                shutil.rmtree(folder, ignore_errors=True)
                return
            else:
                return
        elif command == "attached":
            attached = True
        elif command == "persist":
            persistent = True
        elif command.startswith("signal "):
            signal_kernel(pid, int(command.split()[1]))


def main() -> None:
    # The ssh session may go away at any time: writing to its pipe must not kill us.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    params = json.loads(sys.stdin.buffer.readline().decode("utf-8"))
    try:
        if params["mode"] == "start":
            child, folder, info = start(params)
            pid = child.pid
            claim(folder)
            emit(
                "ready",
                pid=pid,
                started=start_time(pid),
                folder=folder,
                connection=info,
                host=socket.gethostname(),
            )
        elif params["mode"] == "watch":
            pid, folder, child = int(params["pid"]), params["folder"], None
            if not os.path.isdir(folder) or not is_kernel(pid, params.get("started")):
                emit("exit", code=-1)
                return
            claim(folder)
            emit("alive", pid=pid)
        elif params["mode"] == "specs":
            specs = {}
            for name, found in all_kernelspecs().items():
                spec = found["spec"]
                specs[name] = {
                    "display_name": spec.get("display_name", name),
                    "language": spec.get("language", ""),
                    "interrupt_mode": spec.get("interrupt_mode", "signal"),
                    "argv": spec.get("argv", []),
                }
            emit("specs", python=sys.version.split()[0], executable=sys.executable, specs=specs)
            return
        else:
            raise LaunchError("protocol", "unknown mode {!r}".format(params.get("mode")))
    except LaunchError as exc:
        emit("error", kind=exc.kind, message=exc.message)
        sys.exit(3)
    with contextlib.suppress(BrokenPipeError):
        watch(pid, folder, child, params)


def run() -> None:
    """main(), then leave at once: a daemon thread blocked reading stdin would make a
    normal interpreter shutdown abort (the stdin buffer's lock is held)."""
    status = 0
    try:
        main()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(status)


if __name__ in ("__main__", "__jupyssh__"):
    run()
