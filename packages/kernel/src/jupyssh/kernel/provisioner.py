"""``SSHProvisioner``: jupyter_client's kernel provisioner for kernels on an ssh host.

Registered as ``jupyssh`` in the entry-point group ``jupyter_client.kernel_provisioners``;
a kernelspec selects it with ``metadata.kernel_provisioner`` (``jupyssh kernel add``
writes that). Any jupyter_client user (JupyterLab, Notebook, nbclient, console) calls
these methods; the comments say which caller and when.

A launch is: ``ssh -O check`` (the master, started once when absent), one ssh session
carrying the launcher on stdin that answers with the remote ports in the same round
trip, and one ``ssh -O forward`` per channel on the master. The session then stays open as
the kernel's watcher: ``poll()`` reads its state and runs no ssh process while healthy.

Restart intent is read from ``cleanup(restart=...)`` only, the one call that carries it on
every path (user restarts, and the auto-restarter's ``now=True`` that never calls
``shutdown_requested``): a restart keeps the local ports, the key and the forwards, and
asks the launcher for the same remote ports so no forward has to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo, LocalPortCache
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, validate

from jupyssh.core.errors import JupysshError, OperationTimeout, SSHError
from jupyssh.core.ssh import AsyncSSHHost, LocalForward
from jupyssh.kernel.errors import KernelLaunchError, KernelSpecError
from jupyssh.kernel.protocol import Event
from jupyssh.kernel.statefile import KernelState, default_state_path
from jupyssh.kernel.watcher import Watcher

__all__ = ["PORT_NAMES", "SSHProvisioner", "option_names"]

log = logging.getLogger(__name__)

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
_LOCALHOST = "127.0.0.1"
#: Connect timeout of reconnect attempts: short, so a link that comes back is used quickly.
_RECONNECT_CONNECT_TIMEOUT = 2.0
_RECONNECT_MAX_DELAY = 1.0
#: How long the session that re-attaches may take to answer.
_WATCH_TIMEOUT = 10.0


def job_summary(status: Mapping[str, Any], host: str) -> str:
    """A scheduled kernel's job in a few words: ``job 42 submitted to LOGIN`` or ``job 42
    pending (Resources)``, from :attr:`SSHProvisioner.job_status`. The log line for
    JupyterLab and ``jupyssh kernel launch``'s status line both say it this way."""
    job = status.get("job", "?")
    if status.get("event") == "submitted":
        return f"job {job} submitted to {host}"
    state = str(status.get("state", "")).lower() or "waiting"
    return f"job {job} {state} ({status.get('reason') or 'no reason given'})"


class SSHProvisioner(KernelProvisionerBase):
    """Runs the kernel on an ssh host through OpenSSH and forwards its five channels."""

    host = Unicode(help="The ssh host alias (from the ssh config) the kernel runs on.").tag(
        config=True, required=True
    )
    ssh_config = Unicode(
        None, allow_none=True, help="An ssh config file to read instead of ~/.ssh/config."
    ).tag(config=True)
    remote_python = Unicode(
        "python3", help="The python that runs the launcher on the host (any Python 3)."
    ).tag(config=True)
    remote_kernel = Unicode(
        "python3", help="The name of the kernelspec on the host that the kernel is started from."
    ).tag(config=True)
    env_setup = Unicode(
        "",
        help="Shell text run (by bash) before the launcher, e.g. "
        "'module load python; source ~/venv/bin/activate'.",
    ).tag(config=True)
    cwd = Unicode(
        "", help="The kernel's working directory on the host; empty: the login's home."
    ).tag(config=True)
    launch_timeout = Float(
        30.0, help="Seconds the remote kernel may take to start (and to re-attach)."
    ).tag(config=True)
    shutdown_timeout = Float(
        10.0, help="Seconds a shutdown may take before the remote kernel is killed."
    ).tag(config=True)
    transport = Enum(
        ["tcp", "ipc"],
        default_value="tcp",
        help="How the remote kernel listens: 'tcp' on 127.0.0.1 ports, or 'ipc' on Unix "
        "sockets in a private 0700 folder (no TCP port opens on a shared host).",
    ).tag(config=True)
    persistent = Bool(
        False,
        help="Keep the remote kernel when the local side goes away without shutting it "
        "down, and write a state file that `jupyssh kernel launch --existing` re-attaches.",
    ).tag(config=True)
    existing = Unicode(
        None, allow_none=True, help="A state file: re-attach to that kernel instead of starting."
    ).tag(config=True)
    linger = Float(
        600.0,
        help="Seconds a non-persistent remote kernel outlives a lost ssh link, waiting to be "
        "re-attached, before the host ends it.",
    ).tag(config=True)
    reconnect_timeout = Float(
        3600.0,
        help="Seconds to keep reconnecting after the ssh link is lost before the kernel is "
        "reported dead.",
    ).tag(config=True)
    ssh_program = Unicode("ssh", help="The OpenSSH client program.").tag(config=True)
    # --- kernels on compute nodes, through the cluster's scheduler ------------------------
    scheduler = Enum(
        ["none", "slurm"],
        default_value="none",
        help="Run the kernel on a compute node through this scheduler (the host is then "
        "the cluster's login node), or 'none' to run it on the host itself.",
    ).tag(config=True)
    partition = Unicode(
        "", help="The partition (queue) of the kernel's job; empty: the cluster's default."
    ).tag(config=True)
    time = Unicode(
        "",
        help="The job's time limit, as the scheduler reads it (Slurm: MINUTES, HH:MM:SS, "
        "D-HH:MM); empty: the partition's default.",
    ).tag(config=True)
    cpus = Int(0, help="CPUs for the kernel (Slurm --cpus-per-task); 0: the default.").tag(
        config=True
    )
    mem = Unicode("", help="Memory for the job (Slurm --mem: 4G, 500M); empty: the default.").tag(
        config=True
    )
    gpus = Unicode("", help="GPUs for the job (Slurm --gpus: a count or TYPE:COUNT).").tag(
        config=True
    )
    account = Unicode("", help="The account the job is charged to.").tag(config=True)
    qos = Unicode("", help="The job's quality of service.").tag(config=True)
    constraint = Unicode("", help="Node features the job needs (Slurm --constraint).").tag(
        config=True
    )
    sbatch_args = List(
        Unicode(),
        help="More allocation arguments, as salloc and sbatch take them, one word each (e.g. "
        "--reservation=R); repeat the option for each.",
    ).tag(config=True, flag="--sbatch-arg")
    jobid = Unicode(
        "",
        help="Run the kernel inside this existing allocation (e.g. from `salloc --no-shell`); "
        "several kernels may share it, and shutting them down leaves it alone.",
    ).tag(config=True)
    queue_timeout = Float(
        0.0,
        help="Seconds a start may wait while the job is queued before it is cancelled; 0: "
        "as long as the scheduler takes.",
    ).tag(config=True)

    # The options are declared once, above: kernel.json's keys, the click options of
    # `jupyssh kernel add/edit` and the docs table are derived from these traits
    # (jupyssh.kernel.options), and the checks below run wherever a value is set.

    @validate("host")
    def _check_host(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
            # ssh would read "-oProxyCommand=…" as an option, not a destination.
            raise TraitError(f"invalid host alias {value!r}")
        return value

    @validate("remote_python", "remote_kernel", "ssh_program")
    def _check_named(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if not value.strip():
            raise TraitError(f"{proposal['trait'].name} must not be empty")
        return value

    @validate("partition", "time", "mem", "gpus", "account", "qos", "constraint", "jobid")
    def _check_word(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
            # One word of the scheduler's argv: no option smuggled in, no control characters.
            raise TraitError(f"invalid {proposal['trait'].name} {value!r}")
        if proposal["trait"].name == "jobid" and value and not value.isdigit():
            raise TraitError(f"jobid must be a job number, not {value!r}")
        return value

    @validate("sbatch_args")
    def _check_words(self, proposal: dict[str, Any]) -> list[str]:
        words = [str(word) for word in proposal["value"]]
        for word in words:
            if not word or any(not c.isprintable() for c in word):
                raise TraitError(f"invalid sbatch argument {word!r}")
        return words

    @validate("cpus")
    def _check_count(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 0:
            raise TraitError(f"cpus must not be negative, not {value}")
        return value

    @validate("launch_timeout", "shutdown_timeout")
    def _check_positive(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise TraitError(f"{proposal['trait'].name} must be positive, not {value:g}")
        return value

    @validate("linger", "reconnect_timeout", "queue_timeout")
    def _check_not_negative(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not value >= 0:
            raise TraitError(f"{proposal['trait'].name} must not be negative, not {value:g}")
        return value

    def __init__(self, **kwargs: Any) -> None:
        known = set(self.class_trait_names()) | {"parent", "config", "log"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            # kernel.json keys are easy to misspell; a silently ignored option is a bug.
            raise KernelSpecError(
                f"unknown jupyssh provisioner option(s): {', '.join(unknown)}",
                hint=f"known options: {', '.join(option_names())}",
            )
        try:
            super().__init__(**kwargs)
        except TraitError as exc:
            raise KernelSpecError(
                f"invalid jupyssh provisioner option: {exc}",
                hint="`jupyssh kernel edit NAME --help` lists the options and their values",
            ) from None
        if not self.host:
            raise KernelSpecError(
                "the jupyssh provisioner needs a host alias",
                hint="re-create the spec with `jupyssh kernel add NAME ALIAS`",
            )
        self._host = AsyncSSHHost(
            self.host, config_file=self.ssh_config, ssh_program=self.ssh_program
        )
        self._watcher: Watcher | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._pid: int | None = None
        self._folder: str | None = None
        #: The kernel's start time on the host (its identity, with the pid: re-attaching
        #: must not adopt, nor signal, a process that reused the pid).
        self._started: int | None = None
        self._remote: dict[str, Any] = {}
        self._forwards: dict[str, LocalForward] = {}
        self._master_pid: int | None = None
        self._ports_cached = False
        self._gave_up = False
        self._exit_code: int | None = None
        self._state: KernelState | None = None
        self._existing_loaded = False
        self._state_path: Path | None = None
        self._key = ""
        self._signature_scheme = "hmac-sha256"
        #: ssh sessions opened on the host (launch, re-attach, fallback signals): benchmarks.
        self.remote_sessions = 0
        #: A scheduled kernel's job and node, and the job kept for a restart in it.
        self.job: str | None = None
        self.node: str | None = None
        self._kept_job: str | None = None
        #: The last thing the scheduler said of the job while it waited: ``event``
        #: (``submitted``, ``queued``) and its facts (``job``, ``state``, ``reason``, ``waited``).
        self.job_status: dict[str, Any] = {}

    # --- what jupyter_client asks ----------------------------------------------------------

    @property
    def has_process(self) -> bool:
        """True from launch until ``wait()`` saw the kernel end (KernelManager.has_kernel)."""
        return self._pid is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Pick the local ports (kept across restarts) and write the local connection file.

        Called by KernelManager before every (re)start. Writing the file here, before
        anything runs on the host, means an unwritable runtime folder fails the launch
        before there is a remote process to leak.
        """
        km = self.parent
        if km is None:
            raise KernelLaunchError("the jupyssh provisioner needs its KernelManager")
        if self.existing and not self._existing_loaded:
            # Only the first launch re-attaches; a restart then starts a fresh kernel.
            self._existing_loaded = True
            self._state = KernelState.read(self.existing)
            km.session.key = self._state.key.encode()
            km.session.signature_scheme = self._state.signature_scheme
        # The local ends are always TCP on loopback: ssh forwards them to the remote side.
        km.transport = "tcp"
        km.ip = _LOCALHOST
        cache = LocalPortCache.instance()
        for name in PORT_NAMES:
            if not getattr(km, name):
                setattr(km, name, cache.find_available_port(_LOCALHOST))
                self._ports_cached = True
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        self._key = km.session.key.decode()
        self._signature_scheme = km.session.signature_scheme
        extra = kwargs.pop("extra_arguments", [])
        return await super().pre_launch(cmd=km.format_kernel_cmd(extra_arguments=extra), **kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Start (or re-attach) the remote kernel and forward its channels.

        Called by KernelManager after ``pre_launch``. ``cmd`` (the kernelspec's argv
        fallback) is not run: the host's own kernelspec ``remote_kernel`` is. Whatever
        fails after the remote kernel started takes the kernel down with it.
        """
        self._master_pid = await self._host.start_master()
        params: dict[str, Any]
        if self._state is not None and self._pid is None:
            params = self._watch_params(self._state.pid, self._state.folder, self._state.started)
            self._remote = dict(self._state.remote)
        else:
            params = {
                "mode": "start",
                "kernel": self.remote_kernel,
                "key": self._key,
                "signature_scheme": self._signature_scheme,
                "transport": self.transport,
                "cwd": self.cwd,
                "linger": self.linger,
                "persistent": self.persistent,
                # a restart asks for the same endpoints: the forwards then stay as they are
                "ports": [self._remote[n] for n in PORT_NAMES] if self._remote else None,
                "folder": self._folder,
                **self._scheduler_params(),
            }
        self.remote_sessions += 1
        watcher, event = await Watcher.start(
            self._host,
            params,
            python=self.remote_python,
            env_setup=self.env_setup,
            timeout=self._start_timeout(),
            on_progress=self._on_progress,
        )
        try:
            self._adopt(watcher, event)
            await self._forward_all()
            await watcher.send("attached")
            if self.persistent:
                self._state_path = self.write_state(self._state_path)
        except BaseException:
            # Forget the kernel before the session closes: its monitor must not take the
            # closing session for a lost link and start reconnecting to it.
            self._pid = None
            await self._drop_watcher()
            await watcher.close()  # the launcher ends the kernel it started: no orphan
            raise
        where = f"{self.node} (job {self.job}, through {self.host})" if self.job else self.host
        log.info("kernel %s runs on %s (pid %s)", self.kernel_id, where, self._pid)
        return self.connection_info

    async def poll(self) -> int | None:
        """None while the kernel runs (or while the link is down and being re-established);
        its exit status once it ended.

        Called by KernelManager.is_alive: every 3 s by the auto-restarter, every 0.1 s
        during a shutdown. Healthy, it runs no process: the watcher session reports exits.
        """
        if self._pid is None:
            return self._exit_code if self._exit_code is not None else 0
        watcher = self._watcher
        if watcher is not None and watcher.exit_code is not None:
            self._say_why(watcher)
            return watcher.exit_code
        if self._gave_up:
            return 1
        if watcher is None or watcher.lost:
            self._start_recovery()
        return None

    async def wait(self) -> int | None:
        """Wait until the kernel ended; called by KernelManager under its own timeout."""
        # poll() is the state to wait on (it also drives reconnection): no event to await.
        while (code := await self.poll()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if self._pid is not None:
            self._exit_code = code
            self._pid = None
        return code

    async def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group on the host (interrupt_mode "signal").

        Through the watcher's stdin when the session is up (no new ssh process), else with
        one ``ssh host kill``. A link that is down is logged, not raised: KernelManager
        interrupts before every shutdown.
        """
        if self._pid is None:
            return
        if self._watcher is not None and await self._watcher.send(f"signal {int(signum)}"):
            return
        self.remote_sessions += 1
        if self.scheduler != "none":
            # The kernel is on a node: its keeper on the login node relays the signal.
            command = ["sh", "-c", 'printf "signal %s\\n" "$0" > "$1/control"']
            command += [str(int(signum)), str(self._folder)]
        else:
            command = ["kill", f"-{int(signum)}", "--", f"-{self._pid}"]
        try:
            await self._host.run(command, check=False, timeout=10)
        except JupysshError as exc:
            log.warning("could not signal the kernel on %s: %s", self.host, exc)

    async def shutdown_requested(self, restart: bool = False) -> None:
        """Called by KernelManager as it asks the kernel to shut down (graceful path)."""
        await self._keep_job_for(restart)

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL the kernel; called by KernelManager for ``now=True`` and as the last resort."""
        await self._keep_job_for(restart)
        await self.send_signal(9)

    async def terminate(self, restart: bool = False) -> None:
        """SIGTERM the kernel; called by KernelManager when a shutdown request timed out."""
        await self._keep_job_for(restart)
        await self.send_signal(15)

    async def _keep_job_for(self, restart: bool) -> None:
        """Before a restart's kernel ends: keep its job (ours, not a given ``jobid``), so
        the new kernel starts in it instead of waiting in the queue again."""
        if not restart or self.job is None or self.jobid or self._watcher is None:
            return
        if await self._watcher.send("keep-job"):
            self._kept_job = self.job

    async def cleanup(self, restart: bool = False) -> None:
        """Release what the kernel used; the one call that reliably says ``restart``.

        A restart keeps the local ports, key and forwards. A final cleanup cancels the
        forwards, ends the watcher session, returns the ports and removes a
        non-persistent kernel's state file. The master stays for the next kernel
        (``ControlPersist`` ends it).
        """
        await self._stop_recovery()
        watcher = await self._drop_watcher()
        if watcher is not None:
            await watcher.close()
        if restart:
            return
        # The five cancels are independent control-socket requests: at once, not in turn.
        await asyncio.gather(
            *(self._cancel(forward) for forward in self._forwards.values()),
        )
        self._forwards.clear()
        if self._ports_cached:
            cache = LocalPortCache.instance()
            for name in PORT_NAMES:
                port = self.connection_info.get(name)
                if isinstance(port, int) and port:
                    cache.return_port(port)
            self._ports_cached = False
        if self._state_path is not None and self._pid is None:
            self._state_path.unlink(missing_ok=True)

    async def _drop_watcher(self) -> Watcher | None:
        """Stop watching the session (its monitor first); return it, still open."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        watcher, self._watcher = self._watcher, None
        return watcher

    async def _cancel(self, forward: LocalForward) -> None:
        with contextlib.suppress(JupysshError):
            await self._host.cancel_forward(forward)

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        """The ``shutdown_timeout`` option (KernelManager.finish_shutdown)."""
        return self.shutdown_timeout

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        """The ``launch_timeout`` option (the auto-restarter's notion of a stable start)."""
        return max(recommended, self.launch_timeout)

    async def get_provisioner_info(self) -> dict[str, Any]:
        """What another process needs to take this kernel over (HA applications)."""
        info = await super().get_provisioner_info()
        info.update(pid=self._pid, folder=self._folder, remote=self._remote, started=self._started)
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        """The inverse of :meth:`get_provisioner_info`: the next launch re-attaches."""
        await super().load_provisioner_info(provisioner_info)
        pid, folder = provisioner_info.get("pid"), provisioner_info.get("folder")
        if pid and folder:
            key = self.connection_info.get("key", b"")
            self._state = KernelState(
                host=self.host,
                ssh_config=self.ssh_config,
                kernel_name=self.remote_kernel,
                pid=int(pid),
                folder=str(folder),
                remote=dict(provisioner_info.get("remote") or {}),
                started=_int_or_none(provisioner_info.get("started")),
                key=key.decode() if isinstance(key, bytes) else str(key),
                signature_scheme=str(self.connection_info.get("signature_scheme", "hmac-sha256")),
            )

    # --- persistence ---------------------------------------------------------------------

    def write_state(self, path: Path | None = None) -> Path:
        """Write the state file re-attaching needs; return its path."""
        if self._pid is None or self._folder is None:
            raise KernelLaunchError("no remote kernel to describe", where=self.host)
        state = KernelState(
            host=self.host,
            ssh_config=self.ssh_config,
            kernel_name=self.remote_kernel,
            pid=self._pid,
            folder=self._folder,
            remote=self._remote,
            key=self._key,
            started=self._started,
            signature_scheme=self._signature_scheme,
        )
        return state.write(path or default_state_path(str(self.kernel_id)))

    async def detach(self, path: Path | None = None) -> Path:
        """Leave the remote kernel running and stop watching it; return its state file.

        Called by ``jupyssh kernel launch`` on --leave (and SIGQUIT). The kernel is told
        to persist before the session closes, so it outlives this process.
        """
        state_path = self.write_state(path or self._state_path)
        if self._watcher is not None:
            await self._watcher.send("persist")
        self._state_path = None  # cleanup must not remove it
        await self.cleanup(restart=False)
        self._pid = None
        return state_path

    # --- internals -----------------------------------------------------------------------

    def _watch_params(self, pid: int, folder: str, started: int | None) -> dict[str, Any]:
        return {
            "mode": "watch",
            "pid": pid,
            "started": started,
            "folder": folder,
            "linger": self.linger,
            "persistent": self.persistent,
            **({"scheduler": self.scheduler} if self.scheduler != "none" else {}),
        }

    def _scheduler_params(self) -> dict[str, Any]:
        """What the launcher needs to run the kernel through the scheduler (nothing without
        one). A restart asks for the job its kernel kept."""
        if self.scheduler == "none":
            return {}
        names = ("partition", "time", "cpus", "mem", "gpus", "account", "qos", "constraint")
        params: dict[str, Any] = {name: getattr(self, name) for name in names}
        params.update(
            scheduler=self.scheduler,
            sbatch_args=list(self.sbatch_args),
            queue_timeout=self.queue_timeout,
            env_setup=self.env_setup,  # the node's too
            jobid=self._kept_job or self.jobid,
            job_owned=self._kept_job is not None,
        )
        self._kept_job = None
        return params

    def _start_timeout(self) -> float | None:
        """How long a start may take: ``launch_timeout``, plus the queue's wait for a
        scheduled kernel (unbounded unless ``queue_timeout``: Ctrl+C or a shutdown cancels)."""
        if self.scheduler == "none":
            return self.launch_timeout
        return self.launch_timeout + self.queue_timeout if self.queue_timeout else None

    def _on_progress(self, event: Event) -> None:
        """A scheduled kernel's job while it waits: one log line per change (JupyterLab's
        log; ``jupyssh kernel launch`` shows it as a status line)."""
        self.job_status = {"event": event.name, **event.facts}
        self.log.info("kernel %s: %s", self.kernel_id, job_summary(self.job_status, self.host))

    def _say_why(self, watcher: Watcher) -> None:
        """Log once why a scheduled kernel's job ended (TIMEOUT, PREEMPTED, NODE_FAIL …)."""
        message = watcher.exit_facts.pop("message", None)
        if message:
            self.log.warning("kernel %s died: %s", self.kernel_id, message)

    def _adopt(self, watcher: Watcher, event: Event) -> None:
        if event.name == "exit":
            raise KernelLaunchError(
                "the remote kernel is no longer running",
                where=self.host,
                hint="start a new one; a state file only re-attaches a running kernel",
            )
        if event.name == "ready":
            self.job = str(event.facts["job"]) if event.facts.get("job") else None
            self.node = str(event.facts["node"]) if event.facts.get("node") else None
            self._pid = int(event.facts["pid"])
            self._folder = str(event.facts["folder"])
            self._started = _int_or_none(event.facts.get("started"))
            self._remote = dict(event.facts["connection"])
        elif self._state is not None and self._pid is None:
            self._pid, self._folder = self._state.pid, self._state.folder
            self._started = self._state.started
            self._state = None  # consumed: a restart starts a fresh kernel
        self._watcher = watcher
        self._exit_code = None
        self._gave_up = False
        self._monitor = asyncio.ensure_future(self._watch_session(watcher))

    def _remote_target(self, name: str) -> str | tuple[str, int]:
        port = int(self._remote[name])
        if self._remote.get("transport") == "ipc":
            return f"{self._remote['ip']}-{port}"
        return (str(self._remote.get("ip", _LOCALHOST)), port)

    async def _forward_all(self, *, again: bool = False) -> None:
        """Forward each local port to its remote endpoint; only those that changed
        (``again``: all of them, after a new master that lost the old forwards)."""
        for name in PORT_NAMES:
            local_port = int(self.connection_info[name])  # type: ignore[literal-required]
            target = self._remote_target(name)
            current = self._forwards.get(name)
            wanted = LocalForward(_LOCALHOST, local_port, _target_text(target))
            if current == wanted and not again:
                continue
            if current is not None and not again:
                with contextlib.suppress(JupysshError):
                    await self._host.cancel_forward(current)
            # The caller checked (or started) the master just before: one `ssh -O check`
            # per launch, not one more per forward.
            self._forwards[name] = await self._host.forward_local(
                target, local_port=local_port, ensure_master=False
            )

    async def _watch_session(self, watcher: Watcher) -> None:
        """Start re-establishing the link as soon as the session ends without an exit."""
        await watcher.ended.wait()
        if watcher.lost and watcher is self._watcher:
            log.warning("ssh link to %s lost; reconnecting", self.host)
            self._start_recovery()

    def _start_recovery(self) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.ensure_future(self._recover())

    async def _stop_recovery(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        self._recovery = None

    async def _recover(self) -> None:
        """Reconnect (master, watcher, forwards) with a short back-off, for at most
        ``reconnect_timeout`` seconds; then the kernel is reported dead."""
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.25
        saved_timeout = self._host.connect_timeout
        self._host.connect_timeout = _RECONNECT_CONNECT_TIMEOUT
        try:
            while time.monotonic() < deadline and self._pid is not None:
                try:
                    await self._reattach()
                except (SSHError, OperationTimeout, KernelLaunchError) as exc:
                    log.info("reconnect to %s failed: %s", self.host, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RECONNECT_MAX_DELAY)
                    continue
                return
            self._gave_up = True
        finally:
            self._host.connect_timeout = saved_timeout

    async def _reattach(self) -> None:
        if self._pid is None or self._folder is None:
            return
        master = await self._host.start_master()
        self.remote_sessions += 1
        watcher, event = await Watcher.start(
            self._host,
            self._watch_params(self._pid, self._folder, self._started),
            python=self.remote_python,
            env_setup=self.env_setup,
            timeout=_WATCH_TIMEOUT,
        )
        old = self._watcher
        if event.name == "exit":  # the kernel died while the link was down
            self._watcher = watcher
            return
        try:
            if master != self._master_pid:
                await self._forward_all(again=True)
            await watcher.send("attached")
        except BaseException:
            await watcher.close()
            raise
        self._master_pid = master
        self._watcher = watcher
        self._monitor = asyncio.ensure_future(self._watch_session(watcher))
        if old is not None:
            await old.close()
        log.warning("ssh link to %s re-established", self.host)


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def _target_text(target: str | tuple[str, int]) -> str:
    if isinstance(target, tuple):
        return f"{target[0]}:{target[1]}"
    return target


def option_names() -> list[str]:
    """The provisioner's options (the keys of its kernel.json config), sorted."""
    return sorted(SSHProvisioner.class_traits(config=True))
