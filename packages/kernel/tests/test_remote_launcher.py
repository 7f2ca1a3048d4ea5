"""The remote launcher, run on this machine exactly as ssh runs it on a host: the
bootstrap as ``python -c``, the launcher text and its parameters on stdin."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jupyssh.kernel.protocol import BOOTSTRAP, Event
from jupyssh.kernel.watcher import launcher_source

KEY = "0123-secret-key"


class Launcher:
    def __init__(self, params: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        source = launcher_source()
        assert self.process.stdin is not None
        self.process.stdin.write(b"%d\n" % len(source) + source + json.dumps(params).encode())
        self.process.stdin.write(b"\n")
        self.process.stdin.flush()

    def event(self) -> Event:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline().decode()
            assert line, self.process.stderr.read() if self.process.stderr else ""
            event = Event.parse(line.rstrip("\n"))
            if event is not None:
                return event

    def send(self, command: str) -> None:
        """Write one command line; to a launcher that has ended already, nothing arrives."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(command.encode() + b"\n")
            self.process.stdin.flush()

    def close(self) -> int:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a line it could not take any more
            self.process.stdin.close()
        code = self.process.wait(timeout=20)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def argv_of(pid: int, timeout: float = 5.0) -> list[str]:
    """A process's argv; empty for a moment just after exec, so read until it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
        if raw:
            return raw.rstrip(b"\0").decode().split("\0")
        time.sleep(0.01)
    raise AssertionError(f"process {pid} showed no argv within {timeout} s")


def start_params(**extra: Any) -> dict[str, Any]:
    return {"mode": "start", "kernel": "sleeper", "key": KEY, **extra}


@pytest.mark.usefixtures("jupyter_dirs")
def test_start_reports_ports_and_keeps_the_key_off_argv() -> None:
    launcher = Launcher(start_params())
    ready = launcher.event()
    assert ready.name == "ready"
    info = ready.facts["connection"]
    assert info["transport"] == "tcp"
    assert info["ip"] == "127.0.0.1"
    assert "key" not in info
    assert len({info[n] for n in ("shell_port", "iopub_port", "stdin_port", "hb_port")}) == 4
    folder = Path(ready.facts["folder"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    written = json.loads((folder / "kernel.json").read_text())
    assert written["key"] == KEY
    assert stat.S_IMODE((folder / "kernel.json").stat().st_mode) == 0o600
    pid = int(ready.facts["pid"])
    assert KEY not in " ".join(argv_of(pid))
    launcher.send("attached")
    launcher.send(f"signal {signal.SIGTERM}")
    ended = launcher.event()
    assert ended.name == "exit"
    assert ended.facts["code"] == -signal.SIGTERM
    assert launcher.close() == 0
    assert not folder.exists()


@pytest.mark.usefixtures("jupyter_dirs")
def test_session_lost_before_attached_takes_the_kernel_down() -> None:
    launcher = Launcher(start_params())
    ready = launcher.event()
    pid = int(ready.facts["pid"])
    assert alive(pid)
    launcher.close()
    assert not alive(pid)
    assert not Path(ready.facts["folder"]).exists()


@pytest.mark.usefixtures("jupyter_dirs")
def test_persistent_kernel_outlives_its_session_and_is_reattached() -> None:
    launcher = Launcher(start_params(persistent=True))
    ready = launcher.event()
    pid, folder = int(ready.facts["pid"]), ready.facts["folder"]
    launcher.send("attached")
    launcher.close()
    try:
        assert alive(pid)
        again = Launcher({"mode": "watch", "pid": pid, "folder": folder})
        assert again.event().name == "alive"
        again.send("attached")
        again.send(f"signal {signal.SIGKILL}")
        assert again.event().name == "exit"
        again.close()
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("jupyter_dirs")
def test_restart_gets_the_same_ports_and_folder_back() -> None:
    first = Launcher(start_params())
    ready = first.event()
    first.send("attached")
    first.send(f"signal {signal.SIGKILL}")
    assert first.event().name == "exit"
    first.close()
    info = ready.facts["connection"]
    ports = [info[n] for n in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
    second = Launcher(start_params(ports=ports, folder=ready.facts["folder"]))
    again = second.event()
    assert again.facts["folder"] == ready.facts["folder"]
    assert [again.facts["connection"][n] for n in info if n.endswith("_port")] == [
        info[n] for n in info if n.endswith("_port")
    ]
    second.close()


def bare_python_spec(data: Path, name: str, argv0: str) -> None:
    """A kernelspec as ipykernel ships it into a venv: argv[0] a bare ``python``."""
    folder = data / "kernels" / name
    folder.mkdir(parents=True)
    code = "import sys, time; open(sys.argv[1]).read(); time.sleep(60)"
    spec = {"argv": [argv0, "-c", code, "{connection_file}"], "display_name": name}
    (folder / "kernel.json").write_text(json.dumps(spec))


def test_bare_python_argv0_runs_the_launchers_interpreter_when_python_is_not_on_path(
    jupyter_dirs: Path, tmp_path: Path
) -> None:
    """A venv that is not on PATH (Debian has no ``python``): its own ``python3`` spec says
    ``python``, and the kernel must start with the launcher's interpreter, as jupyter_client
    does locally, instead of failing with ``cannot run python``."""
    bare_python_spec(jupyter_dirs, "venvspec", "python")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    launcher = Launcher(start_params(kernel="venvspec"), env=env)
    ready = launcher.event()
    assert ready.name == "ready", ready.facts
    assert argv_of(int(ready.facts["pid"]))[0] == sys.executable
    launcher.send(f"signal {signal.SIGTERM}")
    assert launcher.event().name == "exit"
    launcher.close()


@pytest.mark.parametrize(
    ("argv0", "replaced"),
    [
        ("python", True),
        (f"python{sys.version_info[0]}", True),
        (f"python{sys.version_info[0]}.{sys.version_info[1]}", True),
        ("python2", False),
        ("/usr/bin/python3", False),
        ("pythonw", False),
        (f"python{sys.version_info[0]}.{sys.version_info[1] + 1}", False),
    ],
)
def test_only_bare_names_of_the_launchers_python_are_replaced(argv0: str, replaced: bool) -> None:
    namespace: dict[str, Any] = {"__name__": "remote_launcher_under_test"}
    exec(compile(launcher_source(), "remote_launcher", "exec"), namespace)  # noqa: S102
    argv = namespace["kernel_argv"]({"argv": [argv0, "-m", "x"]}, "", "/c.json")
    assert argv[0] == (sys.executable if replaced else argv0)
    assert argv[1:] == ["-m", "x"]


@pytest.mark.usefixtures("jupyter_dirs")
def test_ipc_transport_uses_sockets_in_the_private_folder() -> None:
    launcher = Launcher(start_params(transport="ipc"))
    ready = launcher.event()
    assert ready.facts["connection"]["transport"] == "ipc"
    assert ready.facts["connection"]["ip"] == os.path.join(ready.facts["folder"], "k")
    launcher.close()


@pytest.mark.usefixtures("jupyter_dirs")
def test_missing_kernelspec_and_cwd_are_typed_errors() -> None:
    launcher = Launcher(start_params(kernel="nope"))
    event = launcher.event()
    assert event.name == "error"
    assert event.facts["kind"] == "kernelspec-missing"
    assert "sleeper" in event.facts["message"]
    assert launcher.close() == 3
    launcher = Launcher(start_params(cwd="/no/such/folder"))
    assert launcher.event().facts["kind"] == "cwd-missing"
    launcher.close()


@pytest.mark.usefixtures("jupyter_dirs")
def test_specs_mode_lists_the_hosts_kernelspecs() -> None:
    launcher = Launcher({"mode": "specs"})
    event = launcher.event()
    assert event.name == "specs"
    assert event.facts["specs"]["sleeper"]["display_name"] == "Sleeper"
    assert event.facts["python"] == sys.version.split()[0]
    launcher.close()


def test_event_lines_need_the_prefix_and_json() -> None:
    assert Event.parse('JUPYSSH {"event": "ready", "pid": 3}') == Event("ready", {"pid": 3})
    assert Event.parse("module: loaded python/3.12") is None
    assert Event.parse("JUPYSSH not json") is None
    assert Event.parse('JUPYSSH ["event"]') is None


@pytest.mark.usefixtures("jupyter_dirs")
def test_finding_19c_reattach_checks_process_identity(tmp_path: Path) -> None:
    """A re-attach names a pid; if the kernel is gone and the pid was reused, the launcher
    must neither adopt nor signal that other process."""
    launcher = Launcher(start_params(persistent=True))
    ready = launcher.event()
    pid, folder, started = int(ready.facts["pid"]), ready.facts["folder"], ready.facts["started"]
    assert isinstance(started, int)
    launcher.send("attached")
    launcher.close()
    stranger = subprocess.Popen(["sleep", "30"])  # alive, but not the kernel
    try:
        # the kernel's folder, another process's pid (as after the kernel died and the pid
        # was reused): "exit", and the stranger is left alone
        reused = Launcher({"mode": "watch", "pid": stranger.pid, "folder": folder})
        assert reused.event().name == "exit"
        reused.send(f"signal {signal.SIGKILL}")
        reused.close()
        assert stranger.poll() is None
        # the kernel's own pid with another start time: not the same process either
        other = Launcher({"mode": "watch", "pid": pid, "folder": folder, "started": started + 1})
        assert other.event().name == "exit"
        other.close()
        assert alive(pid)
        # the right identity re-attaches
        again = Launcher({"mode": "watch", "pid": pid, "folder": folder, "started": started})
        assert again.event().name == "alive"
        again.send("attached")
        again.send(f"signal {signal.SIGKILL}")
        assert again.event().name == "exit"
        again.close()
    finally:
        stranger.kill()
        stranger.wait()
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
