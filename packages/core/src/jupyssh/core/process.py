"""Run a local program with an argv list, bounded in time, and collect what it printed.

The one way jupyssh starts short-lived local programs (``ssh``, ``ssh-keygen``, ...).
Never a shell: argv lists only. A program that outlives its timeout, or whose caller is
cancelled (Ctrl+C), is killed, and only that program: it runs in its own process group
so that an ``ssh`` it spawned as a ProxyCommand goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from jupyssh.core.errors import ConfigError, OperationTimeoutError

__all__ = ["Completed", "run_program"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    """A finished program: its argv, exit status and captured output.

    Also what a remote command run through ssh returns (``jupyssh.core.ssh.CommandResult``
    is this type): there ``returncode`` is the remote command's status.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


async def run_program(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
    leaves_child: bool = False,
    interactive: bool = False,
) -> Completed:
    """Run ``argv`` to completion and return its status and output.

    ``input`` is written to the program's stdin (secrets travel this way, never in argv);
    without it stdin is /dev/null so that a program never waits on ours. ``what`` names the
    operation in a timeout error ("ssh to lab1").

    ``leaves_child`` is for programs that fork a long-lived child which inherits their
    stdout and stderr (``ssh -f`` leaving a control master): reading pipes to EOF would
    wait for that child, so output goes to a private temporary file read back at exit.

    ``interactive`` keeps the program in our session, with our controlling terminal, so
    that it can prompt there (ssh asks for passwords on /dev/tty); otherwise it runs in a
    session of its own, which also lets a timeout kill it with everything it started.

    Raises ``OperationTimeoutError`` after ``timeout`` seconds (the program is killed first) and
    ``ConfigError`` when the program does not exist.
    """
    argv = tuple(argv)
    log.debug("running %s", _loggable(argv))
    if leaves_child:
        with tempfile.TemporaryFile() as out:
            done = await _run(
                argv,
                input=input,
                timeout=timeout,
                env=env,
                what=what,
                output_file=out,
                interactive=interactive,
            )
            out.seek(0)
            return Completed(argv, done.returncode, b"", out.read())
    return await _run(
        argv,
        input=input,
        timeout=timeout,
        env=env,
        what=what,
        output_file=None,
        interactive=interactive,
    )


async def _run(
    argv: tuple[str, ...],
    *,
    input: bytes | None,
    timeout: float | None,
    env: Mapping[str, str] | None,
    what: str | None,
    output_file: IO[bytes] | None,
    interactive: bool,
) -> Completed:
    pipe = asyncio.subprocess.PIPE
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL if output_file else pipe,
            stderr=output_file or pipe,
            env=None if env is None else dict(env),
            start_new_session=not interactive,
        )
    except FileNotFoundError as exc:
        raise ConfigError(
            f"program not found: {argv[0]}",
            hint="install it or put it on PATH",
        ) from exc
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(input), timeout)
    except asyncio.TimeoutError:
        await _kill(proc)
        raise OperationTimeoutError(
            f"{what or argv[0]} did not finish within {timeout:g} s",
            hint="check the host is reachable, or raise the timeout",
        ) from None
    except BaseException:
        # Cancelled (Ctrl+C, task cancel): the program must not outlive its caller.
        await _kill(proc)
        raise
    assert proc.returncode is not None  # noqa: S101 - communicate() waited for it
    return Completed(argv, proc.returncode, stdout or b"", stderr or b"")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(proc.pid) == proc.pid:  # its own group: take its children too
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()


def _loggable(argv: Sequence[str]) -> str:
    # argv never holds secrets by design; this keeps debug logs one readable line.
    return " ".join(argv)
