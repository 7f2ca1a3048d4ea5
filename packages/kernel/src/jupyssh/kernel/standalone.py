"""``jupyssh kernel launch``: one remote kernel run standalone, outside a Jupyter application.

(Not to be confused with the provisioner's ``launch_kernel``, jupyter_client's start of
a kernel, nor with :mod:`jupyssh.kernel.remote_launcher`, the script that starts the
kernel on the host: this module is the local process that holds one kernel.)

Two users: a person who wants a long-lived (persistent) kernel to leave and re-attach,
and applications that ignore provisioners and run the kernelspec's ``argv`` with a
connection file of their own; then this process keeps that file's ports and key and
forwards them to the remote kernel, so the application talks to it as to a local one.

Signals (as sshpyk's ``sshpyk-kernel``): SIGINT interrupts the kernel, SIGUSR1 restarts
it, SIGTERM and SIGHUP shut it down (leave it, when persistent), SIGUSR2 shuts it down
even when persistent, SIGQUIT leaves it running and prints its state file. On a terminal,
Ctrl+D opens a menu of the same actions (:mod:`jupyssh.kernel.menu`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.ioloop.manager import AsyncIOLoopKernelManager

from jupyssh.core.output import StatusLine
from jupyssh.kernel.errors import KernelLaunchError
from jupyssh.kernel.menu import TerminalMenu
from jupyssh.kernel.provisioner import SSHProvisioner, job_summary
from jupyssh.kernel.specs import load_options

__all__ = ["StandaloneRequest", "run_standalone"]

log = logging.getLogger(__name__)

#: Seconds between two refreshes of the status line while a job waits.
STATUS_EVERY = 1.0


@dataclass(frozen=True)
class StandaloneRequest:
    """What ``jupyssh kernel launch`` was asked to do."""

    kernel: str
    connection_file: str | None = None
    persistent: bool | None = None
    existing: str | None = None
    leave: bool = False
    state_file: str | None = None


def _say(message: str) -> None:
    # stderr: an application running the argv fallback may read our stdout.
    print(f"jupyssh-kernel: {message}", file=sys.stderr, flush=True)


async def run_standalone(request: StandaloneRequest) -> Path | None:
    """Start (or re-attach) the kernel and serve it until a signal ends this process.

    Returns the state file when the kernel was left running, None when it was shut down.
    """
    km = _manager(request)
    await _start(km)
    provisioner = km.provisioner
    if not isinstance(provisioner, SSHProvisioner):
        raise KernelLaunchError(f"{request.kernel!r} did not start through jupyssh")
    if request.leave:
        _say(f"kernel {request.kernel} on {provisioner.host}")
        return await _leave(km, provisioner, request)
    loop = asyncio.get_running_loop()
    actions: asyncio.Queue[str] = asyncio.Queue()
    km.add_restart_callback(lambda: actions.put_nowait("dead"), "dead")
    wanted = {
        signal.SIGINT: "interrupt",
        signal.SIGUSR1: "restart",
        signal.SIGTERM: "stop",
        signal.SIGHUP: "stop",
        signal.SIGUSR2: "shutdown",
        signal.SIGQUIT: "leave",
    }
    for signum, action in wanted.items():
        loop.add_signal_handler(signum, actions.put_nowait, action)
    # Announced once the signals are handled: a signal sent on seeing this line is heard.
    _say(f"kernel {request.kernel} on {provisioner.host}; connection file {km.connection_file}")
    menu = TerminalMenu.on_stdin(actions.put_nowait)
    if menu is not None:
        menu.install(loop)
        _say("Ctrl+D: menu; Ctrl+C: interrupt; Ctrl+\\: leave the kernel running")
    try:
        while True:
            action = await actions.get()
            if action == "interrupt":
                _say("interrupting the kernel")
                await km.interrupt_kernel()
            elif action == "restart":
                _say("restarting the kernel")
                await km.restart_kernel()
            elif action == "leave" or (action == "stop" and provisioner.persistent):
                return await _leave(km, provisioner, request)
            else:
                _say("shutting the kernel down" if action != "dead" else "the kernel died")
                await km.shutdown_kernel(now=action == "dead")
                return None
    finally:
        if menu is not None:
            menu.remove()
        for signum in wanted:
            loop.remove_signal_handler(signum)


async def _start(km: AsyncIOLoopKernelManager) -> None:
    """Start the kernel; while a scheduled kernel's job waits in the queue, show its state
    and reason on a status line (Ctrl+C then cancels the start, and with it the job).

    The status is what the watcher session already reported to the provisioner: reading
    it here queries nothing."""
    start = asyncio.ensure_future(km.start_kernel())
    began = time.monotonic()
    try:
        with StatusLine("jupyssh-kernel: ") as line:
            while not start.done():
                await asyncio.wait({start}, timeout=STATUS_EVERY)
                provisioner = km.provisioner
                if isinstance(provisioner, SSHProvisioner) and provisioner.job_status:
                    waited = int(time.monotonic() - began)
                    line.show(
                        job_summary(provisioner.job_status, provisioner.host),
                        f"{waited // 60}:{waited % 60:02d} waited",
                    )
    finally:
        if not start.done():  # Ctrl+C: the start's own cleanup cancels the job
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
    start.result()


def _manager(request: StandaloneRequest) -> AsyncIOLoopKernelManager:
    """A kernel manager for the spec, with the request's overrides of its options."""
    load_options(request.kernel)  # a clear error for a name that is not a jupyssh spec
    km = AsyncIOLoopKernelManager(kernel_name=request.kernel)
    spec = km.kernel_spec
    assert spec is not None  # noqa: S101 - load_options found it
    config = spec.metadata["kernel_provisioner"].setdefault("config", {})
    if request.persistent is not None:
        config["persistent"] = request.persistent
    if request.existing:
        config["existing"] = request.existing
    if request.connection_file:
        km.connection_file = request.connection_file
        if Path(request.connection_file).is_file():
            # An application's own file (the argv fallback): keep its ports and key.
            km.load_connection_file(request.connection_file)
    return km


async def _leave(
    km: AsyncIOLoopKernelManager, provisioner: SSHProvisioner, request: StandaloneRequest
) -> Path:
    km.stop_restarter()
    path = await provisioner.detach(Path(request.state_file) if request.state_file else None)
    _say(f"left the kernel running; re-attach with --existing {path}")
    return path
