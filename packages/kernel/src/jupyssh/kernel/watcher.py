"""The local end of one remote launcher session: start it, read its events, send it commands.

A :class:`Watcher` is one ``ssh`` process, a client of the control master, whose remote
command is the launcher (:mod:`jupyssh.kernel.remote_launcher`, sent on stdin with its
parameters: the kernel's key never appears in argv). The first event answers the launch
(``ready`` with the remote ports, ``alive``, ``exit`` or ``error``) in the same round trip;
afterwards the session stays open and idle: the kernel's exit arrives as an event, so
polling a healthy kernel costs no ssh process at all, and signals travel as stdin lines.
A kernel started through a scheduler first reports its job (``submitted``, then ``queued``
whenever its state or the scheduler's reason changes): progress, handed to ``on_progress``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from jupyssh.core.errors import OperationTimeout
from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.kernel.protocol import BOOTSTRAP, Event, error_for_launch

__all__ = ["Watcher", "launcher_source", "remote_command"]

log = logging.getLogger(__name__)

_STDERR_LINES = 20
#: Events that report a launch's progress (a queued job) rather than answer it.
PROGRESS_EVENTS = frozenset({"submitted", "queued"})
#: How long a closing watcher may take to end before its ssh process is killed.
_CLOSE_SECONDS = 5.0


def launcher_source() -> bytes:
    """The remote launcher's text, as shipped in this package."""
    return files("jupyssh.kernel").joinpath("remote_launcher.py").read_bytes()


def remote_command(python: str, env_setup: str = "") -> list[str]:
    """The remote argv: the launcher python, after ``env_setup`` (shell text) when given."""
    if not env_setup.strip():
        return [python, "-u", "-c", BOOTSTRAP]
    # The setup is the user's own shell text on purpose (module load, source activate);
    # the python and the bootstrap still travel as quoted positional words.
    script = f'{env_setup}\nexec "$0" -u -c "$1"'
    return ["bash", "-c", script, python, BOOTSTRAP]


class Watcher:
    """One running launcher session. Created by :meth:`start`; the provisioner owns it."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        where: str,
        on_progress: Callable[[Event], None] | None = None,
    ) -> None:
        self.process = process
        self.where = where
        self.on_progress = on_progress
        #: The kernel's exit status once the launcher reported it.
        self.exit_code: int | None = None
        #: What the launcher said of the exit (a scheduled kernel's job state and why).
        self.exit_facts: dict[str, Any] = {}
        #: Set when the session ended, reported exit or not.
        self.ended = asyncio.Event()
        self._first: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._tasks = [
            asyncio.ensure_future(self._read_events()),
            asyncio.ensure_future(self._read_stderr()),
        ]

    @classmethod
    async def start(
        cls,
        host: AsyncSSHHost,
        params: Mapping[str, Any],
        *,
        python: str,
        env_setup: str = "",
        timeout: float | None,
        on_progress: Callable[[Event], None] | None = None,
    ) -> tuple[Watcher, Event]:
        """Run the launcher with ``params`` and wait for its first answer (``timeout`` s;
        None: as long as it takes, for a job waiting in a queue the user may cancel).

        Progress events go to ``on_progress`` meanwhile. Raises the typed launch error for
        an ``error`` event, a session that ended first (remote python missing, ssh
        failure), or a timeout; nothing is left running then (a job is cancelled).
        """
        argv = await host.command_argv(remote_command(python, env_setup))
        log.debug("launcher session: %s", " ".join(argv))
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Our own session: a frontend's Ctrl+C or process-group signal must not end it.
            start_new_session=True,
        )
        watcher = cls(process, host.destination, on_progress)
        source = launcher_source()
        payload = b"%d\n" % len(source) + source + json.dumps(dict(params)).encode() + b"\n"
        try:
            assert process.stdin is not None  # noqa: S101 - created with a pipe above
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # A session that ended at once: its status and stderr say why, below.
                process.stdin.write(payload)
                await process.stdin.drain()
            first = await asyncio.wait_for(asyncio.shield(watcher._first), timeout)
        except asyncio.TimeoutError:
            await watcher.close()
            raise OperationTimeout(
                f"the remote kernel did not start within {timeout or 0:g} s",
                hint="raise launch_timeout (`jupyssh kernel edit NAME --launch-timeout S`) "
                "or check the host's load and its Python start-up time",
            ) from None
        except BaseException:
            await watcher.close()
            raise
        if first.name in {"error", "session-ended"}:
            await watcher.close()
            raise error_for_launch(first, host.destination, watcher.stderr_tail)
        return watcher, first

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    @property
    def running(self) -> bool:
        return not self.ended.is_set()

    @property
    def lost(self) -> bool:
        """The session ended without the kernel's exit: the link, not the kernel, went."""
        return self.ended.is_set() and self.exit_code is None

    async def send(self, command: str) -> bool:
        """Write one command line; False when the session is gone."""
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing() or self.ended.is_set():
            return False
        try:
            stdin.write(command.encode("ascii") + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def close(self) -> None:
        """End the session: close its stdin, wait a little, then kill the ssh process."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()
        try:
            await asyncio.wait_for(self.ended.wait(), _CLOSE_SECONDS)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        await self._finish()

    async def _finish(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(self.process.wait(), _CLOSE_SECONDS)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read_events(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None  # noqa: S101 - created with a pipe
        try:
            while line := await stdout.readline():
                text = line.decode("utf-8", "replace").rstrip("\n")
                event = Event.parse(text)
                if event is None:
                    log.debug("[%s] %s", self.where, text)
                    continue
                if event.name in PROGRESS_EVENTS:
                    if self.on_progress is not None:
                        self.on_progress(event)
                    continue
                if event.name == "exit":
                    self.exit_code = int(event.facts.get("code", -1))
                    self.exit_facts = dict(event.facts)
                if not self._first.done():
                    self._first.set_result(event)
        finally:
            await self.process.wait()
            if not self._first.done():
                self._first.set_result(
                    Event("session-ended", {"returncode": self.process.returncode})
                )
            self.ended.set()

    async def _read_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None  # noqa: S101 - created with a pipe
        while line := await stderr.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)
                log.debug("[%s] stderr: %s", self.where, text)
