"""A remote command that a timeout or a cancel really stops, on the host too.

Through a control master, ssh hands the command's pipes to the master process; killing
the local ssh client then leaves the master holding them until the remote command ends
on its own (``sleep 30`` keeps a "2 s timeout" waiting 30 s, and keeps running). So the
command records its process group on the host (the shell sshd starts leads one) in a
private file, and stopping it kills that group through the master first: the session
ends, the master lets go of the pipes, and the local client is reaped at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from jupyssh.core.errors import JupysshError, OperationTimeoutError
from jupyssh.core.process import Completed
from jupyssh.mcp.hosts import RemoteHost

__all__ = ["run_stoppable"]

log = logging.getLogger(__name__)

# $1: the pid file, $2: the user's command line. The wrapper shell leads the process
# group of everything the command starts (unless a program makes its own group).
_WRAPPER = 'umask 077; echo $$ > "$1"; sh -c "$2"; status=$?; rm -f "$1"; exit $status'
# The group first (POSIX `kill -s KILL -- -PGID`; dash refuses `kill -KILL --`); should
# the wrapper not lead a group (a login shell that did not exec it), its children.
_KILL = (
    'pid=$(cat "$1" 2>/dev/null) && { kill -s KILL -- "-$pid" 2>/dev/null'
    ' || { pkill -KILL -P "$pid"; kill -s KILL "$pid"; }; }; rm -f "$1"'
)
#: How long stopping may take: the kill's own round trip, then the local client's exit.
_STOP_TIMEOUT = 15.0


async def run_stoppable(host: RemoteHost, command: str, timeout: float) -> Completed:
    """Run the shell command line ``command`` on ``host``; past ``timeout`` seconds, or
    when cancelled, kill it on the host and raise (``OperationTimeoutError`` or
    ``CancelledError``)."""
    pid_file = f"/tmp/jupyssh-mcp-{secrets.token_hex(8)}.pid"  # noqa: S108 - remote, umask 077
    runner = asyncio.ensure_future(
        host.run(["sh", "-c", _WRAPPER, "sh", pid_file, command], timeout=None, check=False)
    )
    try:
        done, _ = await asyncio.wait({runner}, timeout=timeout)
    except asyncio.CancelledError:
        await _stop(host, runner, pid_file)
        raise
    if not done:
        await _stop(host, runner, pid_file)
        raise OperationTimeoutError(
            f"the command did not finish within {timeout:g} s and was killed",
            hint="raise the timeout, or run it as a task with command_start",
        )
    return runner.result()


async def _stop(host: RemoteHost, runner: asyncio.Future[Completed], pid_file: str) -> None:
    try:
        await host.run(["sh", "-c", _KILL, "sh", pid_file], timeout=_STOP_TIMEOUT, check=False)
    except JupysshError as exc:
        log.warning("could not kill the remote command: %s", exc)
    runner.cancel()
    # asyncio.wait, not wait_for: it gives up after the bound even if the client hangs.
    await asyncio.wait({runner}, timeout=_STOP_TIMEOUT)
    if runner.done():
        with contextlib.suppress(asyncio.CancelledError, JupysshError):
            runner.result()
    else:
        log.warning("the local ssh client did not exit within %g s", _STOP_TIMEOUT)
