"""Files on an ssh alias: SFTP through the alias's control master.

The OpenSSH client starts the host's ``sftp`` subsystem as a client of the master
(``ssh -s … alias sftp``: no new login, the user's config as for every command) and
paramiko's SFTP client speaks the protocol over that process's pipes, in a worker thread
(paramiko blocks). A call opens one such session and closes it at the end; a timer kills
the ssh process past the call's bound, which ends whatever the thread waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import posixpath
import secrets
import select
import stat
import subprocess
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import paramiko

from jupyssh.core.errors import ConfigError, OperationTimeoutError, SSHError
from jupyssh.core.ssh import classify_ssh_failure
from jupyssh.mcp.files import Entry, EntryType, bad_path, is_within, under_root
from jupyssh.mcp.hosts import RemoteHost

__all__ = ["SFTPStore", "open_sftp"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
#: Bytes per SFTP read request (OpenSSH's sftp-server answers up to 256 KiB).
_READ_SIZE = 64 * 1024


class _Pipes:
    """The socket paramiko's SFTP client wants (send, recv, close) over the pipes of the
    ssh process that runs the subsystem.

    Through a control master the ssh client hands these pipes to the master, so killing
    the client does not end a read or write that waits on them (the master holds them
    until the remote side ends). Reads and writes therefore wait in short ``select``
    rounds and give up as soon as :meth:`stop` is called: the call's bound holds.
    """

    _ROUND = 0.2

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None  # noqa: S101 - made with PIPEs
        assert process.stdout is not None  # noqa: S101
        self.process = process
        self._in = process.stdin.fileno()
        self._out = process.stdout.fileno()
        os.set_blocking(self._in, False)
        self._stopped = threading.Event()

    def get_name(self) -> str:
        """What paramiko's debug log lines call this channel."""
        return f"ssh-sftp-{self.process.pid}"

    def send(self, data: bytes) -> int:
        while not self._stopped.is_set():
            _, ready, _ = select.select([], [self._in], [], self._ROUND)
            if ready:
                try:
                    return os.write(self._in, data)
                except BlockingIOError:
                    continue
        return 0  # paramiko raises EOFError

    def recv(self, size: int) -> bytes:
        while not self._stopped.is_set():
            ready, _, _ = select.select([self._out], [], [], self._ROUND)
            if ready:
                return os.read(self._out, size)  # b"" at the end: paramiko raises EOFError
        return b""

    def stop(self) -> None:
        """End every wait on the pipes now (called from the event loop's timer)."""
        self._stopped.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None  # noqa: S101
            self.process.stdin.close()


class SFTPStore:
    """The files of one allowed alias, under its root (``roots`` in the settings, else the
    login's home), for one tool call: use ``async with open_sftp(...) as store``."""

    def __init__(
        self,
        alias: str,
        client: paramiko.SFTPClient,
        root: str,
        session: _Session,
    ) -> None:
        self.where = alias
        self.root = root
        self._client = client
        self._session = session

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await self._session.call(fn)

    async def resolve(self, path: str, *, for_write: bool = False) -> str:
        lexical = under_root(self.root, path)
        if for_write:
            folder, name = posixpath.split(lexical)
            if not name or lexical == self.root:
                raise bad_path(path, "a file path is needed, not the root")
            real_folder = await self._realpath(folder, path, what="folder")
            if not is_within(self.root, real_folder):
                raise bad_path(path, f"the folder is outside the root {self.root} (a link)")
            entry = await self.stat(real_folder)
            if entry is None or entry.type != "directory":
                raise bad_path(path, "the folder to write in is not a directory")
            return posixpath.join(real_folder, name)
        try:
            real = await self._realpath(lexical, path, what="path")
        except ConfigError:
            # realpath fails on a missing file (or a dangling link): stat says which
            return lexical
        if not is_within(self.root, real):
            raise bad_path(path, f"the path leads outside the root {self.root} (a link)")
        return real

    async def _realpath(self, remote: str, shown: str, *, what: str) -> str:
        try:
            return await self._run(lambda: self._client.normalize(remote))
        except OSError as exc:
            raise bad_path(shown, f"no such {what} on {self.where}: {_reason(exc)}") from None

    async def stat(self, path: str) -> Entry | None:
        try:
            attrs = await self._run(lambda: self._client.lstat(path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise bad_path(path, f"cannot stat it: {_reason(exc)}") from None
        return _entry(posixpath.basename(path) or path, path, attrs)

    async def listdir(self, path: str) -> list[Entry]:
        try:
            listed = await self._run(lambda: self._client.listdir_attr(path))
        except OSError as exc:
            raise bad_path(path, f"cannot list it: {_reason(exc)}") from None
        return [_entry(a.filename, posixpath.join(path, a.filename), a) for a in listed]

    async def read(self, path: str, offset: int, length: int) -> bytes:
        def read() -> bytes:
            with self._client.open(path, "rb") as handle:
                handle.seek(offset)
                pieces: list[bytes] = []
                left = length
                while left > 0:
                    piece = handle.read(min(left, _READ_SIZE))
                    if not piece:
                        break
                    pieces.append(piece)
                    left -= len(piece)
                return b"".join(pieces)

        try:
            return await self._run(read)
        except OSError as exc:
            raise bad_path(path, f"cannot read it: {_reason(exc)}") from None

    async def write(self, path: str, data: bytes) -> None:
        """Write a hidden file beside ``path`` and rename it over ``path`` (POSIX rename):
        a reader never sees half a file, and a failure leaves the old one whole."""
        folder, name = posixpath.split(path)
        temporary = posixpath.join(folder, f".{name}.jupyssh-{secrets.token_hex(4)}")

        def write() -> None:
            try:
                old_mode = stat.S_IMODE(self._client.stat(path).st_mode or 0)
            except FileNotFoundError:
                old_mode = None
            try:
                with self._client.open(temporary, "wb") as handle:
                    handle.set_pipelined(True)
                    handle.write(data)
                if old_mode is not None:
                    self._client.chmod(temporary, old_mode)
                self._client.posix_rename(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError, EOFError):
                    self._client.remove(temporary)
                raise

        try:
            await self._run(write)
        except OSError as exc:
            raise bad_path(
                path, f"cannot write it: {_reason(exc)}", "nothing was written"
            ) from None


class _Session:
    """The ssh process that runs the subsystem, and the bound on its life."""

    def __init__(self, process: subprocess.Popen[bytes], alias: str, timeout: float) -> None:
        self.process = process
        self.pipes = _Pipes(process)
        self.alias = alias
        self.timeout = timeout
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        self.pipes.stop()
        self.process.kill()

    async def call(self, fn: Callable[[], _T]) -> _T:
        """``fn`` (blocking paramiko calls) in a worker thread; the session's end is
        turned into the typed error that ended it."""
        try:
            return await asyncio.to_thread(fn)
        except (EOFError, paramiko.SSHException) as exc:
            if self.expired:
                raise OperationTimeoutError(
                    f"the file operation did not finish within {self.timeout:g} s",
                    where=self.alias,
                    hint="raise the timeout, or read a smaller part",
                ) from None
            raise _session_error(self.process, self.alias, exc) from None


@contextlib.asynccontextmanager
async def open_sftp(
    host: RemoteHost, alias: str, root: str | None, timeout: float
) -> AsyncIterator[SFTPStore]:
    """An SFTP session on ``alias`` through its master, for at most ``timeout`` seconds."""
    await host.start_master()
    argv = await host.command_argv(["sftp"])
    argv.insert(argv.index("--"), "-s")  # the last word names a subsystem, not a command
    pipe = subprocess.PIPE
    process = await asyncio.to_thread(subprocess.Popen, argv, stdin=pipe, stdout=pipe, stderr=pipe)
    session = _Session(process, alias, timeout)
    timer = asyncio.get_running_loop().call_later(timeout, session.expire)
    try:
        # paramiko takes any object with send/recv/close for its channel (typed Channel)
        pipes: Any = session.pipes
        client = await session.call(lambda: paramiko.SFTPClient(pipes))
        try:
            real_root = await session.call(lambda: client.normalize(root or "."))
        except OSError:
            raise ConfigError(
                f"the files root {root} does not exist on {alias}",
                where=alias,
                hint='fix "roots" in the MCP settings',
            ) from None
        try:
            yield SFTPStore(alias, client, real_root, session)
        finally:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                await asyncio.to_thread(client.close)
    finally:
        timer.cancel()
        await _reap(process)


async def _reap(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        await asyncio.to_thread(process.wait, 10)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _session_error(process: subprocess.Popen[bytes], alias: str, exc: BaseException) -> SSHError:
    """The ssh failure that ended the session (its own words), else the SFTP one."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    text = ""
    if process.stderr is not None and process.poll() is not None:
        # what ssh wrote; never wait for more (a master may hold the pipe open)
        os.set_blocking(process.stderr.fileno(), False)
        with contextlib.suppress(OSError, TypeError):
            text = (process.stderr.read() or b"").decode("utf-8", "replace")
    error = classify_ssh_failure(text, where=alias) if text.strip() else None
    if isinstance(error, SSHError) and text.strip():
        return error
    return SSHError(
        f"the SFTP session ended: {exc or type(exc).__name__}",
        where=alias,
        hint="check that the host's sshd offers the sftp subsystem",
    )


def _reason(exc: OSError) -> str:
    if exc.errno is not None:
        return os.strerror(exc.errno)
    if isinstance(exc, PermissionError) or "denied" in str(exc).lower():
        return os.strerror(errno.EACCES)
    return str(exc) or type(exc).__name__


def _entry(name: str, path: str, attrs: paramiko.SFTPAttributes) -> Entry:
    mode = attrs.st_mode or 0
    kind: EntryType = (
        "directory"
        if stat.S_ISDIR(mode)
        else "file"
        if stat.S_ISREG(mode)
        else "symlink"
        if stat.S_ISLNK(mode)
        else "other"
    )
    modified = (
        datetime.fromtimestamp(attrs.st_mtime, timezone.utc).isoformat()
        if attrs.st_mtime is not None
        else None
    )
    return Entry(
        name=name,
        path=path,
        type=kind,
        size=attrs.st_size if kind == "file" else None,
        mode=f"{stat.S_IMODE(mode):04o}" if attrs.st_mode is not None else None,
        modified=modified,
    )
