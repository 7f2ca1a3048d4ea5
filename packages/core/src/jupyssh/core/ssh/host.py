"""Drive the OpenSSH client for one destination: commands, scripts, the control master, forwards.

Why OpenSSH and not a Python SSH library: users' ``~/.ssh/config`` (Include, Match,
ProxyJump, agents, certificates, hardware keys, Kerberos) works exactly as it does in a
terminal, and a control master shares one authenticated connection between all of
jupyssh's round trips.

How the master is used: every command runs as a multiplexing client
(``ControlMaster=no`` with the ControlPath), so it rides the master when one runs and
connects directly when none does. Only :meth:`AsyncSSHHost.start_master` ever becomes a
master, and it does so with ``-N -f`` so that no command's pipes are held open by a
background master. The ControlPath is the one the user's config sets, so a master the
user opened by hand (password or OTP hosts) is reused; without one, jupyssh keeps its
sockets in its private runtime folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import socket
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from jupyssh.core.errors import (
    ControlMasterError,
    ForwardingError,
    JupysshError,
    OperationTimeoutError,
    RemoteCommandError,
    RemoteCommandNotFound,
)
from jupyssh.core.paths import ensure_private_dir, runtime_dir
from jupyssh.core.process import Completed, run_program
from jupyssh.core.ssh import stoppable
from jupyssh.core.ssh.classify import classify_ssh_failure, last_line, match_ssh_failure
from jupyssh.core.ssh.hostconfig import HostConfig
from jupyssh.core.ssh.resolve import Hop, Resolver

__all__ = ["AsyncSSHHost", "CommandResult", "LocalForward", "SSHHost"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_MASTER_PID = re.compile(r"Master running \(pid=(\d+)\)")
#: Exit status of a shell that could not find the command (POSIX).
_NOT_FOUND = 127
#: How often forward_local tries a fresh port when the one it picked was taken meanwhile.
_FORWARD_ATTEMPTS = 5
#: How long a stopped command's local ssh client may take to exit once killed.
_STOP_TIMEOUT = 15.0


#: A remote command that ran: the ssh argv, the command's exit status and what it printed.
CommandResult = Completed


@dataclass(frozen=True)
class LocalForward:
    """A local TCP port forwarded through the control master to a remote port or socket."""

    local_host: str
    local_port: int
    #: ``"host:port"`` as seen from the remote side, or the path of a remote Unix socket.
    remote: str

    @property
    def spec(self) -> str:
        """The ``-L`` argument ssh takes for this forward."""
        return f"{self.local_host}:{self.local_port}:{self.remote}"


def remote_target(remote: str | tuple[str, int]) -> str:
    """``("127.0.0.1", 8888)`` → ``"127.0.0.1:8888"``; a socket path stays as it is."""
    if isinstance(remote, tuple):
        host, port = remote
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not remote.startswith("/"):
        raise ForwardingError(
            f"remote socket path must be absolute: {remote!r}",
            hint="pass (host, port) for a TCP port",
        )
    return remote


class AsyncSSHHost:
    """One ssh destination (an alias from the ssh config), driven through OpenSSH.

    Use as ``async with AsyncSSHHost("lab") as host: await host.run(["hostname"])``. On
    exit the forwards it opened are cancelled and a master it started is stopped; a
    master that was already running (the user's own) is left alone.

    ``batch_mode`` (default on) makes ssh fail instead of prompting; ``options`` adds
    ``-o KEY=VALUE`` pairs, which take precedence over the config file.
    """

    def __init__(
        self,
        destination: str,
        *,
        config_file: str | None = None,
        connect_timeout: float = 10.0,
        batch_mode: bool = True,
        control_path: str | None = None,
        control_persist: str = "10m",
        options: Mapping[str, str] | None = None,
        ssh_program: str = "ssh",
        resolver: Resolver | None = None,
    ) -> None:
        self.destination = destination
        self.config_file = config_file
        self.connect_timeout = connect_timeout
        self.batch_mode = batch_mode
        self.control_persist = control_persist
        self.options = dict(options or {})
        self.ssh_program = ssh_program
        self.resolver = resolver or Resolver(config_file, ssh_program=ssh_program)
        self._control_path = control_path
        self._forwards: list[LocalForward] = []
        self._started_master = False

    def __repr__(self) -> str:
        return f"AsyncSSHHost({self.destination!r}, config_file={self.config_file!r})"

    async def __aenter__(self) -> AsyncSSHHost:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel the forwards this object opened and stop the master it started."""
        for forward in list(self._forwards):
            with contextlib.suppress(ForwardingError, ControlMasterError):
                await self.cancel_forward(forward)
        if self._started_master:
            await self.stop_master()

    # --- resolution ----------------------------------------------------------------------

    async def config(self) -> HostConfig:
        """What ``ssh -G`` says about this destination (cached)."""
        return await self.resolver.resolve(self.destination)

    async def chain(self) -> list[Hop]:
        """Every ProxyJump hop to this destination, first hop first, this one last."""
        return await self.resolver.chain(self.destination)

    async def control_path(self) -> str:
        """The control socket: explicit, else the user's ControlPath, else jupyssh's own."""
        if self._control_path is None:
            configured = (await self.config()).control_path
            if configured is not None:
                self._control_path = configured
            else:
                folder = ensure_private_dir(runtime_dir())
                # %C (a hash of host, port, user, jump) keeps the path short and unique.
                self._control_path = str(folder / "cm-%C")
        return self._control_path

    # --- commands ------------------------------------------------------------------------

    async def run(
        self,
        command: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run ``command`` (a list of words, each quoted for the remote shell) on the host.

        ``input`` goes to the command's stdin: the way to pass secrets. With ``check``, a
        non-zero exit raises ``RemoteCommandError`` (``RemoteCommandNotFound`` for 127).
        A failure of ssh itself (refused, auth, host key, ...) always raises its typed
        ``SSHError``.
        """
        if not command:
            raise ValueError("command must name a program")
        remote = shlex.join(command)
        return await self._exec(remote, input=input, timeout=timeout, check=check)

    async def run_script(
        self,
        script: str | bytes,
        *,
        interpreter: Sequence[str] = ("bash", "-s", "--"),
        args: Sequence[str] = (),
        timeout: float | None = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Feed ``script`` to ``interpreter`` on the host's stdin; nothing is written there.

        ``args`` become the script's positional arguments (``$1`` ..., or ``sys.argv``
        with ``interpreter=("python3", "-")``).
        """
        body = script.encode() if isinstance(script, str) else script
        remote = shlex.join([*interpreter, *args])
        return await self._exec(remote, input=body, timeout=timeout, check=check)

    async def command_argv(self, command: Sequence[str]) -> list[str]:
        """The ssh argv that runs ``command`` (each word quoted) on the host as a client of
        the master, for callers that keep the process running themselves (a watcher whose
        pipes stay open) instead of waiting for it like :meth:`run`."""
        if not command:
            raise ValueError("command must name a program")
        return [*await self._argv(), "-T", "--", self.destination, shlex.join(command)]

    async def _exec(
        self,
        remote: str,
        *,
        input: bytes | None,
        timeout: float | None,
        check: bool,
    ) -> CommandResult:
        if timeout is None:
            done = await self._ssh(remote, input=input)
        else:
            done = await self._exec_bounded(remote, input=input, timeout=timeout)
        self._raise_for_ssh(done)
        if check and done.returncode != 0:
            raise _command_error(remote, done, self.destination)
        return done

    async def _ssh(self, remote: str, *, input: bytes | None = None) -> Completed:
        argv = [*await self._argv(), "-T", "--", self.destination, remote]
        return await run_program(argv, input=input, timeout=None, what=f"ssh {self.destination}")

    async def _exec_bounded(self, remote: str, *, input: bytes | None, timeout: float) -> Completed:
        """Run ``remote`` for at most ``timeout`` s; past it, or when the caller is
        cancelled, stop it on the host too (see :mod:`jupyssh.core.ssh.stoppable`)."""
        token = stoppable.new_token()
        runner = asyncio.ensure_future(self._ssh(stoppable.wrap(remote, token), input=input))
        try:
            finished, _ = await asyncio.wait({runner}, timeout=timeout)
        except asyncio.CancelledError:
            await self._stop(runner, token)
            raise
        if not finished:
            await self._stop(runner, token)
            raise OperationTimeoutError(
                f"ssh {self.destination} did not finish within {timeout:g} s",
                hint="check the host is reachable, or raise the timeout",
            )
        return runner.result()

    async def _stop(self, runner: asyncio.Future[Completed], token: str) -> None:
        """Kill a bounded command: on the host through the master, then its local client.

        Only a master holds the command's pipes past the client's death. Without one, the
        client's death ends the connection and sshd ends the session, as for a plain
        ``ssh``; a new login just to kill would also hang when the host is what hangs.
        """
        if await self.master_pid() is not None:
            argv = [*await self._argv(), "-T", "--", self.destination, stoppable.kill(token)]
            try:
                await run_program(
                    argv, timeout=self.connect_timeout + 5, what=f"ssh {self.destination} (kill)"
                )
            except JupysshError as exc:
                log.warning("could not stop the command on %s: %s", self.destination, exc)
        runner.cancel()  # run_program kills the local client
        # asyncio.wait, not wait_for: it gives up after the bound even if the client hangs.
        await asyncio.wait({runner}, timeout=_STOP_TIMEOUT)
        if not runner.done():
            log.warning(
                "the ssh client for %s did not exit within %g s", self.destination, _STOP_TIMEOUT
            )
        elif not runner.cancelled() and runner.exception() is not None:
            log.debug("the stopped ssh client for %s: %r", self.destination, runner.exception())

    # --- control master ------------------------------------------------------------------

    async def master_pid(self) -> int | None:
        """The pid of the master on the control socket (``-O check``), or None."""
        done = await self._control("check")
        if done.returncode != 0:
            return None
        match = _MASTER_PID.search(done.stderr_text)
        return int(match.group(1)) if match else None

    async def start_master(self) -> int:
        """Make sure a master runs on the control socket; return its pid.

        Starts one (authenticating once, in the background, ``ControlPersist`` from the
        constructor) when none answers. Raises the typed ``SSHError`` of the connection
        failure otherwise.
        """
        pid = await self.master_pid()
        if pid is not None:
            return pid
        argv = [
            *await self._argv(master=True),
            "-o",
            f"ControlPersist={self.control_persist}",
            "-N",
            "-f",
            "--",
            self.destination,
        ]
        done = await run_program(
            argv,
            timeout=self.connect_timeout * 3 + 5 if self.batch_mode else None,
            what=f"control master for {self.destination}",
            leaves_child=True,
            # Without BatchMode the user may have to type a password on the terminal.
            interactive=not self.batch_mode,
        )
        if done.returncode != 0:
            raise classify_ssh_failure(done.stderr_text, where=self.destination)
        pid = await self.master_pid()
        if pid is None:
            raise ControlMasterError(
                "the control master started but does not answer on its socket",
                where=await self.control_path(),
                hint="check that the socket's folder is writable and the path is short",
            )
        self._started_master = True
        log.info("control master for %s running (pid %d)", self.destination, pid)
        return pid

    async def stop_master(self) -> None:
        """Ask the master to exit (``-O exit``); nothing happens when none runs."""
        await self._control("exit")
        self._started_master = False

    async def forward_local(
        self,
        remote: str | tuple[str, int],
        *,
        local_port: int = 0,
        local_host: str = "127.0.0.1",
        ensure_master: bool = True,
    ) -> LocalForward:
        """Forward ``local_host:local_port`` to ``remote`` through the master.

        ``remote`` is ``(host, port)`` as seen from the host, or an absolute path of a
        Unix socket there. ``local_port=0`` picks a free port; should another program
        take it before ssh binds it, a fresh one is tried. Starts a master if none runs;
        ``ensure_master=False`` trusts one the caller has just checked with
        :meth:`start_master` (a caller forwarding several ports saves an ``ssh -O check``
        per port; without a master the forward fails with its typed error).
        """
        target = remote_target(remote)
        if ensure_master:
            await self.start_master()
        attempts = _FORWARD_ATTEMPTS if local_port == 0 else 1
        for attempt in range(1, attempts + 1):
            port = local_port or _free_port(local_host)
            forward = LocalForward(local_host, port, target)
            done = await self._control("forward", "-L", forward.spec)
            if done.returncode == 0:
                self._forwards.append(forward)
                return forward
            error = classify_ssh_failure(done.stderr_text, where=self.destination)
            if not isinstance(error, ForwardingError) or attempt == attempts:
                raise error
            log.debug("port %d was taken before ssh could bind it; trying another", port)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def cancel_forward(self, forward: LocalForward) -> None:
        """Stop forwarding ``forward`` (``-O cancel``)."""
        done = await self._control("cancel", "-L", forward.spec)
        with contextlib.suppress(ValueError):
            self._forwards.remove(forward)
        if done.returncode != 0:
            raise classify_ssh_failure(done.stderr_text, where=self.destination)

    # --- argv ----------------------------------------------------------------------------

    async def _argv(self, *, master: bool = False) -> list[str]:
        argv = [self.ssh_program]
        if self.config_file is not None:
            argv += ["-F", self.config_file]
        options = {
            "ControlPath": await self.control_path(),
            # "auto", not "yes", for the master: ssh then removes a stale socket left by a
            # master that was killed, where "yes" would run a master with no socket at all.
            "ControlMaster": "auto" if master else "no",
            "ConnectTimeout": f"{max(1, round(self.connect_timeout))}",
        }
        if self.batch_mode:
            options["BatchMode"] = "yes"
        options.update(self.options)
        for key, value in options.items():
            argv += ["-o", f"{key}={value}"]
        return argv

    async def _control(self, operation: str, *extra: str) -> Completed:
        argv = [*await self._argv(), "-O", operation, *extra, "--", self.destination]
        return await run_program(
            argv, timeout=self.connect_timeout + 5, what=f"ssh -O {operation} {self.destination}"
        )

    def _raise_for_ssh(self, done: Completed) -> None:
        # 255 is ssh's own failure status, but a remote command may exit 255 too: only a
        # message ssh itself prints makes it a connection failure.
        if done.returncode == 255:
            error = match_ssh_failure(done.stderr_text, where=self.destination)
            if error is not None:
                raise error


class SSHHost:
    """The blocking twin of :class:`AsyncSSHHost`, for scripts and non-async callers.

    Each call runs the async method to completion on a private event loop; inside async
    code use :class:`AsyncSSHHost` directly.
    """

    def __init__(self, destination: str, **kwargs: Any) -> None:
        self.aio = AsyncSSHHost(destination, **kwargs)

    def __repr__(self) -> str:
        return f"SSHHost({self.aio.destination!r}, config_file={self.aio.config_file!r})"

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        _run_sync(self.aio.close())

    def config(self) -> HostConfig:
        return _run_sync(self.aio.config())

    def chain(self) -> list[Hop]:
        return _run_sync(self.aio.chain())

    def run(self, command: Sequence[str], **kwargs: Any) -> CommandResult:
        return _run_sync(self.aio.run(command, **kwargs))

    def run_script(self, script: str | bytes, **kwargs: Any) -> CommandResult:
        return _run_sync(self.aio.run_script(script, **kwargs))

    def master_pid(self) -> int | None:
        return _run_sync(self.aio.master_pid())

    def start_master(self) -> int:
        return _run_sync(self.aio.start_master())

    def stop_master(self) -> None:
        _run_sync(self.aio.stop_master())

    def forward_local(self, remote: str | tuple[str, int], **kwargs: Any) -> LocalForward:
        return _run_sync(self.aio.forward_local(remote, **kwargs))

    def cancel_forward(self, forward: LocalForward) -> None:
        _run_sync(self.aio.cancel_forward(forward))


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("SSHHost blocks; inside a running event loop use AsyncSSHHost")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _command_error(remote: str, result: CommandResult, where: str) -> RemoteCommandError:
    tail = last_line(result.stderr_text)
    program = remote.split(" ", 1)[0]
    if result.returncode == _NOT_FOUND:
        return RemoteCommandNotFound(
            f"command not found on the host: {program}",
            where=where,
            hint="install it there, or check PATH for non-interactive shells "
            "(~/.bashrc is not read by `ssh host cmd` on every system)",
            stderr=tail,
            returncode=result.returncode,
        )
    return RemoteCommandError(
        f"remote command exited with status {result.returncode}: {program}"
        + (f": {tail}" if tail else ""),
        where=where,
        stderr=tail,
        returncode=result.returncode,
    )
