# Runs on the remote host's Python (3.7 and later): no PEP 604/585 syntax, no zip(strict=),
# plain try/except where it reads as the protocol; one function per mode.
# ruff: noqa: UP006, UP032, UP035, UP045, B905, TRY300, SIM105, PLR0912, PLC0415
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
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any, Dict, List, Optional, Tuple

PREFIX = "JUPYSSH "
#: The remote argv's program text: it reads the launcher's length and text, then runs it
#: (the text stays at hand as ``__source__``, to start the same launcher elsewhere).
BOOTSTRAP = (
    "import sys;n=int(sys.stdin.buffer.readline());s=sys.stdin.buffer.read(n);"
    "exec(compile(s,'jupyssh-launcher','exec'),{'__name__':'__jupyssh__','__source__':s})"
)
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


def own_source() -> bytes:
    """This launcher's text: as the bootstrap received it, else this file's."""
    shipped = globals().get("__source__")
    if isinstance(shipped, bytes):
        return shipped
    with open(__file__, "rb") as handle:
        return handle.read()


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


def pick_ports(wanted: Optional[List[int]], ip: str = "127.0.0.1") -> List[int]:
    """Five free ports on ``ip``: ``wanted`` when all are free (a restart keeps them)."""
    if wanted and len(wanted) == len(PORT_NAMES):
        held: List[socket.socket] = []
        try:
            for port in wanted:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((ip, int(port)))
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
            sock.bind((ip, 0))
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
        # A kernel on a compute node listens on the address the login node reaches it at.
        ip = params.get("bind_ip") or "127.0.0.1"
        info = {"transport": "tcp", "ip": ip}
        ports = pick_ports(params.get("ports"), ip)
    info.update(zip(PORT_NAMES, ports))
    info["key"] = params["key"]
    info["signature_scheme"] = params.get("signature_scheme", "hmac-sha256")
    info["kernel_name"] = params["kernel"]
    return info


def write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def bare_python_names() -> Tuple[str, ...]:
    """The argv[0] spellings that mean "this Python" in a kernelspec (as jupyter_client's
    KernelManager reads them locally): ``python``, ``python3``, ``python3.X`` of our version."""
    major, minor = sys.version_info[:2]
    return ("python", "python{}".format(major), "python{}.{}".format(major, minor))


def kernel_argv(spec: Dict[str, Any], resource_dir: str, connection_file: str) -> List[str]:
    argv = list(spec.get("argv") or [])
    if not argv:
        raise LaunchError("kernelspec-invalid", "the kernelspec has an empty argv")
    # ipykernel installs its spec with a bare ``python``, which resolves only where the
    # environment is on PATH; a non-interactive ssh shell rarely has it there (Debian has no
    # ``python`` at all). The launcher runs in that environment's interpreter already.
    if argv[0] in bare_python_names():
        argv[0] = sys.executable
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
            raise LaunchError("cwd-missing", "working directory {!r} does not exist".format(cwd))
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
            raise LaunchError("kernel-exec", "cannot run {}: {}".format(argv[0], exc)) from None
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


def watch(
    kernel: LocalKernel,
    folder: str,
    params: Dict[str, Any],
    commands: queue.Queue[Optional[str]],
) -> None:
    """Report the kernel's exit, deliver signals, hand over to a newer watcher.

    Commands on stdin: ``attached`` (the local side is set up), ``persist`` (leave the
    kernel running when the session ends), ``keep-job`` (a restart follows: keep a
    scheduled kernel's allocation), ``signal N``. The end of stdin before ``attached`` in
    ``start`` mode means the launch failed locally: the kernel goes too.
    """
    linger = float(params.get("linger", 600))
    persistent = bool(params.get("persistent"))
    attached = False
    orphaned_at: Optional[float] = None
    while True:
        # Checked before every command this loop may deliver: a re-attached watcher knows
        # only the pid, and a reused pid must never be signalled.
        code = kernel.exit_code()
        if code is not None:
            facts = kernel.exit_facts(folder, code)
            shutil.rmtree(folder, ignore_errors=True)
            if orphaned_at is None:
                emit("exit", **facts)
            return
        if claimed_by_other(folder):
            return
        if orphaned_at is not None:
            if persistent:
                return
            if time.monotonic() - orphaned_at > linger:
                kernel.terminate()
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
                kernel.terminate()
                shutil.rmtree(folder, ignore_errors=True)
                return
            else:
                return
        elif command == "attached":
            attached = True
        elif command == "persist":
            persistent = True
        elif command == "keep-job":
            kernel.keep_job()
        elif command.startswith("signal "):
            kernel.signal(int(command.split()[1]))


# --- Schedulers: a kernel inside a batch job -------------------------------------------------
#
# With ``params["scheduler"]`` the launcher runs on the cluster's login node and the kernel on
# a compute node. The launcher submits an allocation (or takes ``jobid``), reports it queued
# while it waits, then starts a *keeper*: a process of its own session on the login node that
# owns ``srun`` (a job step running this launcher in ``start`` mode on the node, its key sent
# on srun's stdin, never in argv or the job's environment; there is no batch script). The keeper
# relays signal lines from a FIFO in its folder to the node, records the kernel's end with the
# job's state, and cancels the job it owns. Watchers (this session's, or a re-attached one)
# watch the keeper as they would watch a local kernel.

# An allocation on an idle partition is granted within a second: four quick looks in that
# second, then backing off to one query per 5 s while the job waits.
SCHEDULER_POLL_SECONDS = (0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 5.0)
ENDED_BECAUSE = {
    "TIMEOUT": "its time limit was reached",
    "PREEMPTED": "it was preempted",
    "NODE_FAIL": "its node failed",
    "CANCELLED": "it was cancelled",
    "OUT_OF_MEMORY": "it ran out of memory",
    "FAILED": "it failed",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "its deadline passed",
    "COMPLETED": "it completed",
}
#: Pending reasons that mean the job can never start as submitted (a cluster whose
#: EnforcePartLimits is off accepts such jobs and leaves them waiting forever).
NEVER_STARTS = {
    "PartitionConfig": "it asks for more than the partition's nodes have",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionTimeLimit": "its time limit exceeds the partition's",
    "BadConstraints": "no node has the features it asks for",
    "InvalidAccount": "the account is not valid",
    "InvalidQOS": "the QOS is not valid",
    "AccountNotAllowed": "the account may not use the partition",
    "QOSNotAllowed": "the QOS may not use the partition",
}
RUNNING_STATES = ("RUNNING", "COMPLETING", "CONFIGURING")
WAITING_STATES = ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")


def run_program(argv: List[str], timeout: float = 60.0) -> Tuple[int, str, str]:
    """Run a scheduler command; a missing program is a typed failure, not a traceback."""
    try:
        done = subprocess.run(
            argv,
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise LaunchError(
            "scheduler-missing",
            "{} is not on this host's PATH: is it the cluster's login node?".format(argv[0]),
        ) from None
    except subprocess.TimeoutExpired:
        raise LaunchError(
            "scheduler", "{} did not answer within {:.0f} s".format(argv[0], timeout)
        ) from None
    return done.returncode, done.stdout, done.stderr


def last_error_line(text: str) -> str:
    """The scheduler's own words: its last ``error:`` line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    return (errors or lines or ["(no message)"])[-1]


class JobState:
    """What the scheduler says of a job: state (PENDING, RUNNING, TIMEOUT ...), reason, node."""

    def __init__(self, job_id: str, state: str, reason: str = "", nodes: str = "") -> None:
        self.job_id = job_id
        self.state = state
        self.reason = "" if reason in ("None", "(null)") else reason
        self.nodes = "" if nodes in ("(null)",) else nodes

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    def facts(self) -> Dict[str, str]:
        return {"job": self.job_id, "state": self.state, "reason": self.reason, "nodes": self.nodes}

    def ended_message(self) -> str:
        why = ENDED_BECAUSE.get(self.state, "the scheduler reports {}".format(self.state))
        reason = " ({})".format(self.reason) if self.reason else ""
        return "job {} ended: {}{}".format(self.job_id, why, reason)


class Slurm:
    """The Slurm implementation of the scheduler interface: submit, state, cancel, plus how
    to run a command inside an allocation and what the partitions are."""

    name = "slurm"
    #: kernel option -> salloc (and sbatch) flag: the options the provisioner checks and sends
    FLAGS = (
        ("partition", "--partition"),
        ("time", "--time"),
        ("cpus", "--cpus-per-task"),
        ("mem", "--mem"),
        ("gpus", "--gpus"),
        ("account", "--account"),
        ("qos", "--qos"),
        ("constraint", "--constraint"),
    )

    def __init__(self) -> None:
        #: ``salloc`` while it waits for the allocation it asked for (see :meth:`submit`).
        self.salloc: Optional[subprocess.Popen[bytes]] = None

    def request_flags(self, options: Dict[str, Any]) -> List[str]:
        """The options' flags (those unset are left to the cluster's defaults), then the
        user's own ``sbatch_args``: what salloc and sbatch both take."""
        flags = []
        for key, flag in self.FLAGS:
            value = options.get(key)
            if value not in (None, "", 0):
                flags.append("{}={}".format(flag, value))
        return flags + [str(arg) for arg in options.get("sbatch_args") or []]

    def submit_argv(self, options: Dict[str, Any], name: str) -> List[str]:
        argv = ["salloc", "--no-shell", "--job-name=" + name, "--nodes=1", "--ntasks=1"]
        return argv + self.request_flags(options)

    def submit_batch(self, options: Dict[str, Any], name: str, script: str) -> str:
        """Submit the batch script at path ``script`` (a user's job, not a kernel: the
        MCP tools' ``slurm_submit``); its job id."""
        argv = ["sbatch", "--parsable", "--job-name=" + name, *self.request_flags(options)]
        code, out, err = run_program([*argv, script])
        job_id = out.strip().split(";")[0]
        if code != 0 or not job_id.isdigit():
            raise LaunchError(
                "scheduler-submit", "sbatch refused the job: " + last_error_line(err or out)
            )
        return job_id

    def submit(self, options: Dict[str, Any], name: str) -> str:
        """Ask for the kernel's allocation; return its job id as soon as Slurm names it.

        ``salloc --no-shell``: an interactive allocation, as the kernel is interactive
        work. Slurm grants one at once where it can, where a batch job waits for the next
        batch scheduling pass (measured on an idle cluster: 5 ms against 2-3 s). salloc
        keeps running while the job is pending and ends once it is granted or revoked;
        :meth:`settle` collects it. No batch script exists: nothing of the kernel is
        written into the job."""
        argv = self.submit_argv(options, name)
        try:
            salloc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, close_fds=True,
            )  # fmt: skip
        except FileNotFoundError:
            raise LaunchError(
                "scheduler-missing", "salloc is not on this host's PATH: is it the login node?"
            ) from None
        said: List[str] = []
        assert salloc.stderr is not None  # noqa: S101 - made with a pipe
        for raw in iter(salloc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            said.append(line)
            found = re.search(r"(?:Pending|Granted) job allocation (\d+)", line)
            if found:
                # salloc says more (queued, granted, revoked): read it so it never blocks
                threading.Thread(target=salloc.stderr.read, daemon=True).start()
                self.salloc = salloc
                return found.group(1)
        salloc.wait()
        raise LaunchError(
            "scheduler-submit", "salloc refused the job: " + last_error_line("\n".join(said))
        )

    def settle(self) -> None:
        """Collect the ``salloc`` of :meth:`submit` once its job runs or is cancelled
        (it ends by itself then; killed after a bound if not)."""
        salloc, self.salloc = self.salloc, None
        if salloc is None:
            return
        try:
            salloc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            salloc.kill()
            salloc.wait()

    def state(self, job_id: str) -> JobState:
        code, out, err = run_program(["scontrol", "show", "job", "-o", job_id])
        if code != 0:
            return JobState(job_id, "GONE", last_error_line(err))
        fields = dict(re.findall(r"(\w+)=(\S*)", out))
        return JobState(
            job_id,
            fields.get("JobState", "UNKNOWN"),
            fields.get("Reason", ""),
            fields.get("NodeList", ""),
        )

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(LaunchError):
            run_program(["scancel", job_id])
        self.settle()

    def first_node(self, nodes: str) -> str:
        if not re.search(r"[\[,]", nodes):
            return nodes
        code, out, _ = run_program(["scontrol", "show", "hostnames", nodes])
        names = out.split()
        if code != 0 or not names:
            raise LaunchError("scheduler", "cannot expand the node list {!r}".format(nodes))
        return names[0]

    def step_argv(
        self, job_id: str, node: str, options: Dict[str, Any], command: List[str]
    ) -> List[str]:
        argv = ["srun", "--jobid=" + job_id, "--nodelist=" + node, "--nodes=1", "--ntasks=1"]
        # --overlap: the step shares the allocation with other kernels (``jobid``) and with
        # whatever the user runs in an allocation of their own.
        argv += ["--overlap", "--unbuffered", "--quiet", "--job-name=jupyssh-kernel"]
        for key, flag in (("cpus", "--cpus-per-task"), ("gpus", "--gpus")):
            if options.get(key) not in (None, "", 0):
                argv.append("{}={}".format(flag, options[key]))
        return [*argv, "--", *command]

    def partitions(self) -> List[Dict[str, str]]:
        code, out, _ = run_program(["sinfo", "-h", "-o", "%P|%a|%l|%D|%c|%m|%G"], timeout=20)
        if code != 0:
            return []
        keys = ("name", "state", "time_limit", "nodes", "cpus", "memory_mb", "gres")
        return [
            dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.count("|") == 6
        ]


SCHEDULERS = {"slurm": Slurm}


def scheduler_for(name: str) -> Slurm:
    if name not in SCHEDULERS:
        raise LaunchError("protocol", "unknown scheduler {!r}".format(name))
    return SCHEDULERS[name]()


def wait_for_allocation(
    scheduler: Slurm, job_id: str, commands: queue.Queue[Optional[str]], queue_timeout: float
) -> JobState:
    """Report the job as it waits (a ``queued`` event whenever its state or reason changes)
    and return its state once it runs. Polls back off to one query per 5 s; the end of the
    session, the queue timeout, or the job ending first end the wait."""
    started = time.monotonic()
    shown: Optional[Tuple[str, str]] = None
    for polls in range(10**6):  # bounded by the queue timeout or the session in practice
        state = scheduler.state(job_id)
        if state.running and state.nodes:
            return state
        if not state.waiting:
            raise LaunchError("scheduler-ended", state.ended_message())
        if state.reason in NEVER_STARTS:
            raise LaunchError(
                "scheduler-refused",
                "job {} can never start: {} (Slurm's reason: {})".format(
                    job_id, NEVER_STARTS[state.reason], state.reason
                ),
            )
        if (state.state, state.reason) != shown:
            shown = (state.state, state.reason)
            emit("queued", waited=round(time.monotonic() - started, 1), **state.facts())
        if queue_timeout and time.monotonic() - started > queue_timeout:
            raise LaunchError(
                "queue-timeout",
                "job {} still {} after {:.0f} s ({})".format(
                    job_id, state.state.lower(), queue_timeout, state.reason or "no reason given"
                ),
            )
        interval = SCHEDULER_POLL_SECONDS[min(polls, len(SCHEDULER_POLL_SECONDS) - 1)]
        try:
            command = commands.get(timeout=interval)
        except queue.Empty:
            continue
        if command is None:
            raise LaunchError("cancelled", "the session ended while job {} waited".format(job_id))
    raise LaunchError("queue-timeout", "job {} never started".format(job_id))


def read_events(stream: Any, until: Tuple[str, ...]) -> Dict[str, Any]:
    """Read ``JUPYSSH {json}`` lines from ``stream`` until an event named in ``until``."""
    while True:
        line = stream.readline()
        if not line:
            return {
                "event": "error",
                "kind": "kernel-exec",
                "message": "the job step ended before the kernel was ready",
            }
        text = line.decode("utf-8", "replace").strip()
        if text.startswith(PREFIX):
            event: Dict[str, Any] = json.loads(text[len(PREFIX) :])
            if event.get("event") in until:
                return event


def pipes(process: subprocess.Popen[bytes]) -> Tuple[IO[bytes], IO[bytes]]:
    """A child's stdin and stdout, made with ``PIPE``."""
    if process.stdin is None or process.stdout is None:
        raise LaunchError("protocol", "a child process has no pipes")
    return process.stdin, process.stdout


def send_launcher(stdin: Any, params: Dict[str, Any]) -> None:
    """What the bootstrap reads: the launcher's text, then one line of parameters."""
    source = own_source()
    stdin.write(b"%d\n" % len(source) + source + json.dumps(params).encode("utf-8") + b"\n")
    stdin.flush()


def bootstrap_argv(python: str) -> List[str]:
    return [python, "-u", "-c", BOOTSTRAP]


def start_scheduled(
    params: Dict[str, Any], commands: queue.Queue[Optional[str]]
) -> Tuple[Any, str, Dict[str, Any], Dict[str, Any]]:
    """Get an allocation (submitted here, or ``jobid``), start the keeper, wait until the
    kernel on the node is ready. Returns (keeper, folder, connection info, job facts)."""
    scheduler = scheduler_for(params["scheduler"])
    # ``jobid``: the user's allocation (left alone), or with ``job_owned`` the job of this
    # kernel before a restart (used again while it lasts, then cancelled as ours).
    own_job = not params.get("jobid") or bool(params.get("job_owned"))
    job_id = str(params.get("jobid") or "")
    if job_id and own_job:
        kept = scheduler.state(job_id)
        if not (kept.running or kept.waiting):
            job_id = ""
    if not job_id:
        job_id = scheduler.submit(params, "jupyssh-" + str(params["kernel"]))
        emit("submitted", job=job_id)
    try:
        state = wait_for_allocation(
            scheduler, job_id, commands, float(params.get("queue_timeout") or 0)
        )
        scheduler.settle()  # granted: salloc has ended
        node = scheduler.first_node(state.nodes)
        folder = private_folder(params.get("folder"))
        try:
            keeper, info = start_keeper(params, job_id, own_job, node, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    except BaseException:
        if own_job:
            scheduler.cancel(job_id)
        raise
    return keeper, folder, info, {"job": job_id, "node": node, "own_job": own_job}


def start_keeper(
    params: Dict[str, Any], job_id: str, own_job: bool, node: str, folder: str
) -> Tuple[Any, Dict[str, Any]]:
    os.mkfifo(os.path.join(folder, "control"), 0o600)
    keeper_params = dict(params, mode="keep", job=job_id, own_job=own_job, node=node, folder=folder)
    log = os.open(os.path.join(folder, "keeper.log"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        keeper = subprocess.Popen(
            bootstrap_argv(sys.executable),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(log)
    stdin, stdout = pipes(keeper)
    try:
        send_launcher(stdin, keeper_params)
        stdin.close()
        event = read_events(stdout, ("ready", "error"))
    except BaseException:
        keeper.kill()
        keeper.wait()
        raise
    if event["event"] == "error":
        keeper.wait()
        raise LaunchError(str(event.get("kind", "kernel-exec")), str(event.get("message", "")))
    # The keeper writes no more events; leave its pipe to a reader that never blocks it.
    threading.Thread(target=stdout.read, daemon=True).start()
    return keeper, event["connection"]


def step_command(params: Dict[str, Any]) -> List[str]:
    """The node's argv: the user's ``env_setup`` (bash text: module load, conda activate),
    then this launcher's bootstrap, as the local side builds it for the login node."""
    python = str(params.get("node_python") or sys.executable)
    setup = str(params.get("env_setup") or "").strip()
    if not setup:
        return bootstrap_argv(python)
    return ["bash", "-c", setup + '\nexec "$0" -u -c "$1"', python, BOOTSTRAP]


def keep(params: Dict[str, Any]) -> None:
    """Keeper mode: own the job step that runs the kernel on the node, until it ends."""
    scheduler = scheduler_for(params["scheduler"])
    folder, job_id, node = params["folder"], str(params["job"]), str(params["node"])
    own = {"job": bool(params.get("own_job"))}
    try:
        address = socket.gethostbyname(node)
    except OSError as exc:
        emit("error", kind="scheduler", message="cannot resolve node {}: {}".format(node, exc))
        if own["job"]:
            scheduler.cancel(job_id)
        return
    argv = scheduler.step_argv(job_id, node, params, step_command(params))
    step = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
    node_params: Dict[str, Any] = {"mode": "start", "bind_ip": address, "linger": 0}
    for key in ("kernel", "key", "signature_scheme", "cwd", "ports"):
        if key in params:
            node_params[key] = params[key]
    step_in, step_out = pipes(step)
    send_launcher(step_in, node_params)
    event = read_events(step_out, ("ready", "error"))
    if event["event"] == "error":
        step.wait()
        if own["job"]:
            scheduler.cancel(job_id)
        emit("error", kind=event.get("kind", "kernel-exec"), message=event.get("message", ""))
        return
    event["connection"]["ip"] = address
    # Open the control FIFO before announcing the kernel: a signal sent right after ``ready``
    # needs a reader there (RDWR: the FIFO never reads as ended between writers).
    control = os.open(os.path.join(folder, "control"), os.O_RDWR)
    emit("ready", connection=event["connection"], node=node, node_pid=event.get("pid"))
    step_in.write(b"attached\n")
    step_in.flush()
    ended = {"code": -1}

    def note_exit() -> None:
        found = read_events(step_out, ("exit",))
        if found.get("event") == "exit":
            ended["code"] = int(found.get("code", -1))

    threading.Thread(target=note_exit, daemon=True).start()
    threading.Thread(target=relay_control, args=(control, step, step_in, own), daemon=True).start()
    step.wait()
    time.sleep(POLL_SECONDS)  # let note_exit read the exit event the step printed last
    state = scheduler.state(job_id)
    if own["job"]:
        scheduler.cancel(job_id)
    facts = dict(state.facts(), code=ended["code"], kept_job=not own["job"])
    if not state.running:
        facts["message"] = state.ended_message()
    write_private(os.path.join(folder, "exit.json"), json.dumps(facts))


def relay_control(
    control: int, step: subprocess.Popen[bytes], step_in: IO[bytes], own: Dict[str, bool]
) -> None:
    """Thread: the keeper's FIFO lines. ``signal N`` goes to the node's launcher, which
    signals the kernel's process group; ``terminate`` ends the kernel (TERM, then KILL);
    ``keep-job`` leaves the allocation for a restart in the same job."""
    with os.fdopen(control, "rb", buffering=0) as lines:
        for line in iter(lines.readline, b""):
            command = line.decode("ascii", "replace").strip()
            try:
                if command.startswith("signal "):
                    step_in.write(command.encode("ascii") + b"\n")
                    step_in.flush()
                elif command == "keep-job":
                    own["job"] = False
                elif command == "terminate":
                    step_in.write(b"signal %d\n" % signal.SIGTERM)
                    step_in.flush()
                    deadline = time.monotonic() + TERM_GRACE_SECONDS
                    while step.poll() is None and time.monotonic() < deadline:
                        time.sleep(POLL_SECONDS)
                    if step.poll() is None:
                        step_in.write(b"signal %d\n" % signal.SIGKILL)
                        step_in.flush()
                        step_in.close()
            except (OSError, ValueError):
                return  # the step is gone


class LocalKernel:
    """A kernel process on this host: what ``watch`` watches, signals and ends."""

    def __init__(self, pid: int, child: Any, started: Optional[int] = None) -> None:
        self.pid = pid
        self.child = child
        self.started = start_time(pid) if started is None and child is not None else started

    def exit_code(self) -> Optional[int]:
        """None while it runs, else its exit status (-1 when it is not our child, or when
        its pid now belongs to another process)."""
        if self.child is not None:
            code: Optional[int] = self.child.poll()
            return code
        return None if is_kernel(self.pid, self.started) else -1

    def signal(self, signum: int) -> None:
        signal_kernel(self.pid, signum)

    def terminate(self) -> None:
        terminate(self.pid, self.child)

    def exit_facts(self, folder: str, code: int) -> Dict[str, Any]:
        return {"code": code}

    def keep_job(self) -> None:
        """A restart follows: keep the allocation (only scheduled kernels have one)."""


class ScheduledKernel(LocalKernel):
    """A kernel on a compute node, seen through its keeper on this (login) host."""

    def __init__(self, pid: int, child: Any, folder: str, started: Optional[int] = None) -> None:
        LocalKernel.__init__(self, pid, child, started)
        self.folder = folder

    def signal(self, signum: int) -> None:
        self.control("signal {}".format(signum))

    def control(self, command: str) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(os.path.join(self.folder, "control"), os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.write(fd, command.encode("ascii") + b"\n")
            finally:
                os.close(fd)

    def keep_job(self) -> None:
        self.control("keep-job")

    def terminate(self) -> None:
        self.control("terminate")
        deadline = time.monotonic() + TERM_GRACE_SECONDS * 3
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if self.exit_code() is None:
            terminate(self.pid, self.child)

    def exit_facts(self, folder: str, code: int) -> Dict[str, Any]:
        try:
            with open(os.path.join(folder, "exit.json")) as handle:
                return dict(json.load(handle))
        except (OSError, ValueError):
            return {"code": code}


def list_specs() -> None:
    specs = {}
    for name, found in all_kernelspecs().items():
        spec = found["spec"]
        specs[name] = {
            "display_name": spec.get("display_name", name),
            "language": spec.get("language", ""),
            "interrupt_mode": spec.get("interrupt_mode", "signal"),
            "argv": spec.get("argv", []),
        }
    facts: Dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "specs": specs,
    }
    if shutil.which("sinfo"):
        with contextlib.suppress(LaunchError):
            facts["partitions"] = Slurm().partitions()
    emit("specs", **facts)


def begin(params: Dict[str, Any], commands: queue.Queue[Optional[str]]) -> Tuple[LocalKernel, str]:
    """Start (or find, in ``watch`` mode) the kernel; announce it; return it and its folder."""
    if params["mode"] == "start" and params.get("scheduler"):
        keeper, folder, info, job = start_scheduled(params, commands)
        kernel: LocalKernel = ScheduledKernel(keeper.pid, keeper, folder)
        claim(folder)
        emit(
            "ready",
            pid=keeper.pid,
            started=kernel.started,
            folder=folder,
            connection=info,
            host=job["node"],
            **job,
        )
    elif params["mode"] == "start":
        child, folder, info = start(params)
        kernel = LocalKernel(child.pid, child)
        claim(folder)
        emit(
            "ready",
            pid=child.pid,
            started=kernel.started,
            folder=folder,
            connection=info,
            host=socket.gethostname(),
        )
    elif params["mode"] == "watch":
        pid, folder, started = int(params["pid"]), params["folder"], params.get("started")
        if params.get("scheduler"):
            kernel = ScheduledKernel(pid, None, folder, started)
        else:
            kernel = LocalKernel(pid, None, started)
        if not os.path.isdir(folder) or kernel.exit_code() is not None:
            emit("exit", code=-1)
            raise SystemExit(0)
        claim(folder)
        emit("alive", pid=pid)
    else:
        raise LaunchError("protocol", "unknown mode {!r}".format(params.get("mode")))
    return kernel, folder


def main() -> None:
    # The ssh session may go away at any time: writing to its pipe must not kill us.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    params = json.loads(sys.stdin.buffer.readline().decode("utf-8"))
    commands: queue.Queue[Optional[str]] = queue.Queue()
    try:
        if params["mode"] == "specs":
            list_specs()
            return
        if params["mode"] == "keep":
            keep(params)
            return
        threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
        kernel, folder = begin(params, commands)
    except LaunchError as exc:
        emit("error", kind=exc.kind, message=exc.message)
        sys.exit(3)
    with contextlib.suppress(BrokenPipeError):
        watch(kernel, folder, params, commands)


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
