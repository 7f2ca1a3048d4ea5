"""Open files: :class:`ReadHandle` (ranged reads with read-ahead) and :class:`WriteHandle`
(paramiko's side of an :class:`~jupyssh.sftp.upload.Upload`).

Both run on the session's paramiko thread and wait on the service's loop for the Jupyter
server. paramiko's convention is kept (``read``/``write``/``chattr`` return bytes or an
``SFTP_*`` code, with the message left on the interface through ``fail``), except for
``close``, whose return value paramiko ignores: a failed upload *raises*
:class:`~jupyssh.sftp.status.SFTPStatusError` there, so the client's ``close`` fails.

Memory stays flat whatever the file size: a reader holds at most ``read_ahead`` blocks of
``read_block`` bytes, and fewer when the service's buffer budget is spent; a READ returns
at most :data:`~jupyssh.sftp.limits.MAX_READ_WRITE` bytes, as OpenSSH's sftp-server.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Protocol

from paramiko import SFTPAttributes, SFTPHandle
from paramiko.sftp import SFTP_OK, SFTP_PERMISSION_DENIED

from jupyssh.core.jupyter import ContentsModel
from jupyssh.sftp.attrs import attributes
from jupyssh.sftp.limits import MAX_READ_WRITE
from jupyssh.sftp.service import SFTPService
from jupyssh.sftp.status import SFTPStatusError, is_hidden
from jupyssh.sftp.upload import Upload

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["ReadHandle", "WriteHandle"]


class Reporter(Protocol):
    """Where a handle leaves the message of a failure (the session's interface)."""

    def fail(self, error: SFTPStatusError) -> int: ...

    def forget(self, handle: WriteHandle) -> None: ...


class ReadHandle(SFTPHandle):
    """A file opened for reading: ``/files/`` ranged requests of ``read_block`` bytes,
    ``read_ahead`` of them in flight ahead of the reader.

    Blocks are aligned (block ``i`` holds bytes ``i*B … (i+1)*B-1``); a read that spans two
    blocks is served from both, a read that jumps elsewhere restarts the read-ahead there.
    A short block marks the end of the file.
    """

    def __init__(
        self, service: SFTPService, reporter: Reporter, path: str, model: ContentsModel, flags: int
    ) -> None:
        super().__init__(flags)
        self.service = service
        self.reporter = reporter
        self.path = path
        self.model = model
        self._block_size = service.options.read_block
        self._depth = service.options.read_ahead
        self._size_hint = int(model.get("size") or 0)
        self._blocks: dict[int, concurrent.futures.Future[bytes]] = {}
        self._last_block: int | None = None  # index of the short block, once seen

    def read(self, offset: int, length: int) -> bytes | int:
        """Up to ``length`` bytes from ``offset``, at most :data:`MAX_READ_WRITE` (as
        OpenSSH's sftp-server: a client may ask for 4 GiB in one READ); ``b""`` at the end
        (paramiko sends EOF)."""
        try:
            return self._read(offset, min(length, MAX_READ_WRITE))
        except SFTPStatusError as exc:
            return self.reporter.fail(_refused_read(self.path, exc))

    def _read(self, offset: int, length: int) -> bytes:
        out = bytearray()
        position = offset
        while len(out) < length:
            index = position // self._block_size
            block = self._block(index)
            if block is None:  # no room in the buffer budget: just the bytes asked for
                out += self._read_direct(position, length - len(out))
                break
            start = position - index * self._block_size
            piece = block[start : start + length - len(out)]
            out += piece
            position += len(piece)
            if len(block) < self._block_size or not piece:
                break
        return bytes(out)

    def _block(self, index: int) -> bytes | None:
        """Block ``index``, scheduling the ones after it and dropping the ones behind;
        ``None`` when the service's buffer budget has no room for it.

        Every block held costs ``read_block`` bytes of the budget until dropped, so
        read-ahead shrinks (down to none) when many readers share the service."""
        if self._last_block is not None and index > self._last_block:
            return b""
        for stale in [i for i in self._blocks if i < index - 1 or i > index + 2 * self._depth]:
            self._drop(stale)
        last_wanted = index + self._depth - 1
        if self._last_block is not None:
            last_wanted = min(last_wanted, self._last_block)
        else:  # do not ask far past the size seen at open (a growing file still works)
            last_wanted = min(last_wanted, max(index, self._size_hint // self._block_size + 1))
        for i in range(index, last_wanted + 1):
            if i in self._blocks:
                continue
            if not self.service.buffers.take(self._block_size):
                break
            start = i * self._block_size
            coro = self.service.client.read_range(self.path, start, self._block_size)
            self._blocks[i] = self.service.submit(coro)
        if index not in self._blocks:
            return None
        try:
            block = self.service.wait(self._blocks[index], path=self.path)
        except SFTPStatusError:
            self._drop(index)
            raise
        if len(block) < self._block_size:
            self._last_block = index
        return block

    def _read_direct(self, offset: int, length: int) -> bytes:
        coro = self.service.client.read_range(self.path, offset, length)
        return self.service.run(coro, path=self.path)

    def _drop(self, index: int) -> None:
        future = self._blocks.pop(index, None)
        if future is not None:
            future.cancel()
            self.service.buffers.give(self._block_size)

    def stat(self) -> SFTPAttributes:
        return attributes(self.model)

    def chattr(self, attr: SFTPAttributes) -> int:
        return self.reporter.fail(SFTPStatusError.denied("file is open for reading only"))

    def close(self) -> None:
        """Cancel the read-ahead (called by paramiko on CLOSE and at the session's end)."""
        for index in list(self._blocks):
            self._drop(index)


class WriteHandle(SFTPHandle):
    """A file opened for writing: paramiko's handle around an :class:`Upload` (which
    says how the bytes travel). Nothing touches ``target`` until :meth:`close`; a handle
    still open when the session ends is :meth:`abort`-ed."""

    def __init__(
        self,
        service: SFTPService,
        reporter: Reporter,
        target: str,
        existing: ContentsModel | None,
        flags: int,
        *,
        truncate: bool,
        append: bool,
    ) -> None:
        super().__init__(flags)
        self.reporter = reporter
        self.upload = Upload(service, target, existing, truncate=truncate, append=append)

    @property
    def target(self) -> str:
        return self.upload.target

    def write(self, offset: int, data: Buffer) -> int:
        try:
            self.upload.write(offset, bytes(data))  # paramiko passes bytes: no copy
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)
        return SFTP_OK

    def read(self, offset: int, length: int) -> bytes | int:
        """What was written so far (at most :data:`MAX_READ_WRITE` bytes)."""
        try:
            return self.upload.read(offset, min(length, MAX_READ_WRITE))
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)

    def stat(self) -> SFTPAttributes:
        attrs = SFTPAttributes()
        attrs.filename = self.target.rpartition("/")[2]
        attrs.st_mode = 0o100644
        attrs.st_size = self.upload.length()
        return attrs

    def chattr(self, attr: SFTPAttributes) -> int:
        """A size truncates or extends (``scp`` ≥ 9.1 sends one after the data);
        permissions, owners and times are accepted and ignored."""
        try:
            if attr.st_size is not None:
                self.upload.truncate(int(attr.st_size))
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)
        return SFTP_OK

    def close(self) -> None:
        """Finish the upload and put the file in place; raise if that fails (the client's
        ``close`` then fails). Called by paramiko on CLOSE; a second call does nothing."""
        if self.upload.done:
            return
        self.reporter.forget(self)
        self.upload.finish()

    def abort(self) -> None:
        """The session ended with the file still open: drop the upload, keep ``target``."""
        self.upload.abort()


def _refused_read(path: str, error: SFTPStatusError) -> SFTPStatusError:
    """A refused ``/files/`` read, with its likely cause: the Contents API showed the file,
    so the token works; jupyter_server's file handler (tornado >= 6.5.9) refuses a file
    whose real path leaves the server's root, such as one behind a symbolic link."""
    if error.code != SFTP_PERMISSION_DENIED or is_hidden(path):
        return error
    return SFTPStatusError.denied(
        f"{error.message}; the Jupyter server refuses to serve this file's bytes, which it "
        "does for a symbolic link leading outside its root"
    )
