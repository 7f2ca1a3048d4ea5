"""``SFTPService``: what every SFTP session against one Jupyter server shares.

One service per Jupyter server, shared by every connection and session: the async
:class:`~jupyssh.core.jupyter.JupyterClient` and the event loop it runs on (a private
daemon thread unless the caller hands in a running loop), the tuning
(:class:`SFTPOptions`), and a lock per path that serialises the moment an upload or a
rename replaces a file. paramiko runs each SFTP session on its own thread, which calls
:meth:`SFTPService.run` to wait for one coroutine at a time.

Mounting it on any paramiko server (the bridge does this)::

    from jupyssh.sftp import SFTPService, install

    service = SFTPService(JupyterClient(url, token=token))
    ...
    # in SSHServer.on_transport (accept thread), for every new transport:
    install(transport, service)     # the subsystem handler, jupyssh.sftp.subsystem
    # and let the policy start it:  allowed_subsystems = frozenset({"sftp"})
    ...
    service.close()                 # after the server has stopped
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from jupyssh.core.errors import ConfigError, JupysshError, JupyterNotFoundError
from jupyssh.core.jupyter import ContentsModel, JupyterClient
from jupyssh.sftp.limits import (
    DEFAULT_BUFFER_BUDGET,
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_HANDLES,
    ByteBudget,
)
from jupyssh.sftp.status import SFTPStatusError, from_jupyter_error, printable, show

__all__ = ["SFTPOptions", "SFTPService"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_MiB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class SFTPOptions:
    """Tuning of an :class:`SFTPService`.

    :param chunk_size: bytes per Contents API save chunk; ``None`` (the default) takes the
        client's ``JupyterClient.chunk_size`` (the one setting, 1 MiB unless the client was
        made with another). Uploads hold at most two chunks in memory (one being sent, one
        filling). Proxies in front of Jupyter limit request bodies; JupyterLab's own uploads
        use 1 MiB.
    :param read_block: bytes per ranged ``/files/`` request when reading.
    :param read_ahead: ranged requests a reader keeps in flight ahead of the client.
    :param verify_hash_max: after an upload, compare the server's sha256 with ours for
        files up to this size (jupyter_server reads the whole file into its memory to hash
        it); bigger files are checked by size. ``0`` checks sizes only.
    :param call_timeout: the longest one SFTP request waits for the Jupyter server.
    :param spill_dir: folder for the private temporary files of out-of-order writes
        (default: the system's temporary folder).
    :param max_handles: open files and folders per session (advertised to clients in
        ``limits@openssh.com``); one more open fails.
    :param buffer_budget: bytes of read-ahead and upload buffers in memory, for all the
        sessions together. Past it, readers stop reading ahead and uploads send what they
        hold at once: slower, never a failure.
    :param max_file_size: the largest file a write or a size change may make; beyond it
        the request fails (``SSH_FX_FAILURE``) and nothing is written.
    :param spill_budget: bytes of local temporary files (out-of-order writes, the copy of
        a file being rewritten in place), for all the sessions together; a write that
        needs more fails.
    """

    chunk_size: int | None = None
    read_block: int = 4 * _MiB
    read_ahead: int = 4
    verify_hash_max: int = 128 * _MiB
    call_timeout: float = 300.0
    spill_dir: Path | None = None
    max_handles: int = DEFAULT_MAX_HANDLES
    buffer_budget: int = DEFAULT_BUFFER_BUDGET
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    spill_budget: int = DEFAULT_MAX_FILE_SIZE

    def __post_init__(self) -> None:
        if (self.chunk_size is not None and self.chunk_size < 64 * 1024) or (
            self.read_block < 64 * 1024
        ):
            raise ConfigError("chunk_size and read_block must be at least 64 KiB")
        if self.read_ahead < 1 or self.call_timeout <= 0 or self.verify_hash_max < 0:
            raise ConfigError("read_ahead and call_timeout must be positive")
        if self.max_handles < 1:
            raise ConfigError(f"max_handles must be at least 1, not {self.max_handles}")
        if min(self.buffer_budget, self.max_file_size, self.spill_budget) < 0:
            raise ConfigError("buffer_budget, max_file_size and spill_budget cannot be negative")


class SFTPService:
    """The shared half of the SFTP server: a Jupyter client on an event loop, and locks.

    :param client: the Jupyter server's client. The service closes it in :meth:`close`
        when it owns the loop (``loop`` not given).
    :param loop: a running event loop on another thread to run the client on (the one the
        client is used on elsewhere); by default the service starts its own daemon thread.
    """

    def __init__(
        self,
        client: JupyterClient,
        options: SFTPOptions | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.client = client
        self.options = options or SFTPOptions()
        self._owns_loop = loop is None
        self._thread: threading.Thread | None = None
        if loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=loop.run_forever, name="jupyssh-sftp-io", daemon=True
            )
            self._thread.start()
        self.loop = loop
        #: Read-ahead blocks and upload chunks in memory, all sessions together.
        self.buffers = ByteBudget(self.options.buffer_budget)
        #: Local temporary files of uploads, all sessions together.
        self.spills = ByteBudget(self.options.spill_budget)
        self._locks_guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._sessions = 0
        self._sessions_changed = threading.Condition()
        self._closed = False

    # --- running coroutines from paramiko's threads ------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Start ``coro`` on the service's loop; returns at once (any thread but the loop's)."""
        if self._closed:
            coro.close()
            raise SFTPStatusError.failure("the SFTP service is shutting down")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def wait(self, future: concurrent.futures.Future[_T], *, path: str = "") -> _T:
        """The result of a submitted coroutine, with Jupyter errors mapped to SFTP statuses
        (:func:`~jupyssh.sftp.status.from_jupyter_error`); bounded by ``call_timeout``."""
        try:
            return future.result(self.options.call_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SFTPStatusError.failure(
                f"{show(path)}: the Jupyter server did not answer within "
                f"{self.options.call_timeout:g} s"
            ) from None
        except JupysshError as exc:
            raise from_jupyter_error(exc, path) from exc

    def run(self, coro: Coroutine[Any, Any, _T], *, path: str = "") -> _T:
        """Run ``coro`` on the loop and wait for it (paramiko's session threads call this)."""
        return self.wait(self.submit(coro), path=path)

    # --- Contents operations shared by the interface and the handles -------------------------

    def stat_or_none(self, path: str) -> ContentsModel | None:
        """The model of ``path`` without content, or ``None`` if it does not exist."""
        return self.run(_stat_or_none(self.client, path), path=path)

    @contextlib.contextmanager
    def path_lock(self, path: str) -> Iterator[None]:
        """Hold the lock of ``path`` (paths that replace a file take it; no timeout: the
        holder's own Jupyter calls are bounded)."""
        with self._locks_guard:
            lock, users = self._locks.get(path, (threading.Lock(), 0))
            self._locks[path] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._locks_guard:
                lock, users = self._locks[path]
                if users <= 1:
                    del self._locks[path]
                else:
                    self._locks[path] = (lock, users - 1)

    def replace(self, source: str, target: str) -> None:
        """Move the file ``source`` onto ``target``, replacing a file there (POSIX rename).

        The Contents API refuses to rename onto an existing path (409), so an existing
        target is first renamed aside, then ``source`` takes its name, then the old copy is
        discarded; if the second rename fails the old file is put back. Serialised per
        ``target``: of two uploads that finish together, the last one wins, whole.
        """
        with self.path_lock(target):
            existing = self.stat_or_none(target)
            if existing is None:
                self.run(self.client.rename(source, target), path=target)
                return
            if existing["type"] == "directory":
                raise SFTPStatusError.failure(f"{show(target)}: is a directory, cannot replace it")
            aside = side_name(target, "old")
            self.run(self.client.rename(target, aside), path=target)
            try:
                self.run(self.client.rename(source, target), path=target)
            except BaseException:
                with contextlib.suppress(SFTPStatusError):
                    self.run(self.client.rename(aside, target), path=target)
                raise
            self.discard(aside, exists=True)

    def discard(self, path: str, *, exists: bool = False) -> None:
        """Remove a file of our own (an upload's temporary file, a replaced copy): emptied
        first, so that a server that deletes to its trash keeps no copy of the data.
        ``exists``: the caller just made it (a replaced copy), so it is not looked up
        first (emptying a missing file would create it). Failures are logged, not raised:
        the caller is already on its way out."""
        try:
            self.run(_empty_and_delete(self.client, path, exists=exists), path=path)
        except SFTPStatusError as exc:
            logger.warning(
                "could not remove temporary file %s: %s", show(path), printable(exc.message)
            )

    # --- lifecycle --------------------------------------------------------------------------

    def session_started(self) -> None:
        """An SFTP session began (the interface calls this on the session's thread)."""
        with self._sessions_changed:
            self._sessions += 1

    def session_ended(self) -> None:
        """An SFTP session ended, its abandoned uploads cleaned up."""
        with self._sessions_changed:
            self._sessions -= 1
            self._sessions_changed.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the service: wait up to ``timeout`` seconds for sessions that are ending
        (an SSH server that just closed its connections: their abandoned uploads are being
        removed), then close the client and stop the loop if the service owns them.
        Idempotent; sessions still running fail their next request."""
        if self._closed:
            return
        with self._sessions_changed:
            self._sessions_changed.wait_for(lambda: self._sessions <= 0, timeout)
        self._closed = True
        if not self._owns_loop:
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self.client.aclose(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> SFTPService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def side_name(path: str, kind: str) -> str:
    """A fresh name next to ``path`` for an upload (``kind="part"``) or a replaced copy
    (``"old"``): ``<name>.jupyssh-<random>.<kind>`` in the same folder, so the final rename
    never crosses a file system. Not hidden (servers refuse dotfiles by default) unless
    ``path`` is; the name part is shortened to stay under 255 bytes."""
    folder, _, name = path.rpartition("/")
    while len(name.encode()) > 200:
        name = name[:-1]
    side = f"{name}.jupyssh-{secrets.token_hex(6)}.{kind}"
    return f"{folder}/{side}" if folder else side


async def _stat_or_none(client: JupyterClient, path: str) -> ContentsModel | None:
    try:
        return await client.stat(path)
    except JupyterNotFoundError:
        return None


async def _empty_and_delete(client: JupyterClient, path: str, *, exists: bool) -> None:
    try:
        if not exists:
            await client.stat(path)
        await client.save_whole(path, b"")
        await client.delete(path)
    except JupyterNotFoundError:
        return
