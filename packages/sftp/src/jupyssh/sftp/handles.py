"""Open files: :class:`ReadHandle` (ranged reads with read-ahead) and :class:`WriteHandle`
(streamed chunked uploads to a temporary name, renamed into place at close).

Both run on the session's paramiko thread and wait on the service's loop for the Jupyter
server. paramiko's convention is kept (``read``/``write``/``chattr`` return bytes or an
``SFTP_*`` code, with the message left on the interface through ``fail``), except for
``close``, whose return value paramiko ignores: a failed upload *raises*
:class:`~jupyssh.sftp.status.SFTPStatusError` there, so the client's ``close`` fails.

Memory stays flat whatever the file size: a reader holds at most ``read_ahead`` blocks of
``read_block`` bytes, a writer one chunk being sent and one filling; out-of-order writes go
to a private temporary file on local disk.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import os
import tempfile
from typing import IO, TYPE_CHECKING, Protocol

from paramiko import SFTPAttributes, SFTPHandle
from paramiko.sftp import SFTP_OK

from jupyssh.core.jupyter import ContentsModel, JupyterClient
from jupyssh.sftp.attrs import attributes
from jupyssh.sftp.service import SFTPService, side_name
from jupyssh.sftp.status import SFTPStatusError, is_hidden

if TYPE_CHECKING:
    from collections.abc import Iterator

    from typing_extensions import Buffer

__all__ = ["ReadHandle", "WriteHandle"]

logger = logging.getLogger(__name__)


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
        """Up to ``length`` bytes from ``offset``; ``b""`` at the end (paramiko sends EOF)."""
        try:
            return self._read(offset, length)
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)

    def _read(self, offset: int, length: int) -> bytes:
        out = bytearray()
        position = offset
        while len(out) < length:
            index = position // self._block_size
            block = self._block(index)
            start = position - index * self._block_size
            piece = block[start : start + length - len(out)]
            out += piece
            position += len(piece)
            if len(block) < self._block_size or not piece:
                break
        return bytes(out)

    def _block(self, index: int) -> bytes:
        """Block ``index``, scheduling the ones after it and dropping the ones behind."""
        if self._last_block is not None and index > self._last_block:
            return b""
        for stale in [i for i in self._blocks if i < index - 1 or i > index + 2 * self._depth]:
            self._blocks.pop(stale).cancel()
        last_wanted = index + self._depth - 1
        if self._last_block is not None:
            last_wanted = min(last_wanted, self._last_block)
        else:  # do not ask far past the size seen at open (a growing file still works)
            last_wanted = min(last_wanted, max(index, self._size_hint // self._block_size + 1))
        for i in range(index, last_wanted + 1):
            if i not in self._blocks:
                start = i * self._block_size
                coro = self.service.client.read_range(self.path, start, self._block_size)
                self._blocks[i] = self.service.submit(coro)
        try:
            block = self.service.wait(self._blocks[index], path=self.path)
        except SFTPStatusError:
            self._blocks.pop(index, None)
            raise
        if len(block) < self._block_size:
            self._last_block = index
        return block

    def stat(self) -> SFTPAttributes:
        return attributes(self.model)

    def chattr(self, attr: SFTPAttributes) -> int:
        return self.reporter.fail(SFTPStatusError.denied("file is open for reading only"))

    def close(self) -> None:
        """Cancel the read-ahead (called by paramiko on CLOSE and at the session's end)."""
        for future in self._blocks.values():
            future.cancel()
        self._blocks.clear()


class WriteHandle(SFTPHandle):
    """A file opened for writing. Nothing touches ``target`` until :meth:`close`.

    *Streaming* (the common case: writes arrive in order from offset 0): bytes collect in a
    buffer that goes to the temporary file as Contents API chunks (1 truncates, 2, 3, …
    append, -1 appends the last), one chunk in flight while the next fills.

    *Spilled* (a write elsewhere than the end, a truncation below it, a read, append mode):
    what was streamed so far is fetched back into a private local temporary file, the old
    content is added after it when the file was opened without truncation, and from then
    on every operation works on that file; :meth:`close` uploads it.

    Without ``O_TRUNC`` the old bytes beyond what the client writes stay (POSIX
    semantics): in streaming mode they are copied from the old file at close unless a
    ``setstat(size)`` cut them first, which is what ``scp`` ≥ 9.1 does.

    :meth:`close` then checks the temporary file's size (and sha256 when small enough),
    and renames it over ``target`` (:meth:`SFTPService.replace`). :meth:`abort` (the
    session died) removes the temporary file and leaves ``target`` alone.
    """

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
        self.service = service
        self.reporter = reporter
        self.target = target
        self.temp = side_name(target, "part")
        self._chunk_size = service.options.chunk_size
        self._keep_old = existing is not None and not truncate
        self._old_size = int(existing.get("size") or 0) if existing is not None else 0
        self._append = append
        self._position = 0  # bytes streamed: sent in chunks plus the buffer
        self._buffer = bytearray()
        self._chunks_sent = 0
        self._in_flight: concurrent.futures.Future[ContentsModel] | None = None
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._spill: IO[bytes] | None = None
        self._finished = False
        if is_hidden(target):
            # the server may refuse dotfiles: find out now, so that open fails, not close
            self.service.run(self._save_whole(b""), path=target)
        if append:
            self._to_spill()

    @property
    def client(self) -> JupyterClient:
        return self.service.client

    # --- paramiko's handle API -------------------------------------------------------------

    def write(self, offset: int, data: Buffer) -> int:
        try:
            self._write(offset, bytes(data))  # paramiko passes bytes: no copy
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)
        return SFTP_OK

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            spill = self._to_spill()
            spill.seek(offset)
            return spill.read(length)
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)

    def stat(self) -> SFTPAttributes:
        attrs = SFTPAttributes()
        attrs.filename = self.target.rpartition("/")[2]
        attrs.st_mode = 0o100644
        attrs.st_size = self._length()
        return attrs

    def chattr(self, attr: SFTPAttributes) -> int:
        """A size truncates or extends (``scp`` ≥ 9.1 sends one after the data);
        permissions, owners and times are accepted and ignored."""
        try:
            if attr.st_size is not None:
                self._truncate(int(attr.st_size))
        except SFTPStatusError as exc:
            return self.reporter.fail(exc)
        return SFTP_OK

    def close(self) -> None:
        """Finish the upload and put the file in place; raise if that fails (the client's
        ``close`` then fails). Called by paramiko on CLOSE; a second call does nothing."""
        if self._finished:
            return
        self._finished = True
        self.reporter.forget(self)
        try:
            size, digest = self._upload_rest()
            self._verify(size, digest)
            self.service.replace(self.temp, self.target)
        except SFTPStatusError:
            self._cleanup()
            raise
        except Exception as exc:  # a local disk error, a bug: the client must still know
            self._cleanup()
            raise SFTPStatusError.failure(f"/{self.target}: upload failed: {exc}") from exc
        self._close_spill()

    def abort(self) -> None:
        """The session ended with the file still open: drop the upload, keep ``target``."""
        if self._finished:
            return
        self._finished = True
        logger.info("upload of /%s abandoned by the client: removing /%s", self.target, self.temp)
        self._cleanup()

    # --- writing -----------------------------------------------------------------------------

    def _write(self, offset: int, data: bytes) -> None:
        if self._finished:
            raise SFTPStatusError.failure("file is closed")
        self._store(offset, data)

    def _store(self, offset: int, data: bytes) -> None:
        if self._spill is None and offset == self._position:
            self._buffer += data
            self._position += len(data)
            if self._hash is not None:
                self._hash.update(data)
            if len(self._buffer) >= self._chunk_size:
                self._send_chunk(last=False)
            return
        spill = self._to_spill()
        if self._append:
            spill.seek(0, os.SEEK_END)
        else:
            spill.seek(offset)
        spill.write(data)

    def _truncate(self, size: int) -> None:
        if size < 0:
            raise SFTPStatusError.failure("a size cannot be negative")
        if self._spill is None and size == self._position:
            self._keep_old = False  # the old tail is cut off: nothing to copy at close
            return
        spill = self._to_spill()
        spill.truncate(size)

    def _length(self) -> int:
        if self._spill is not None:
            self._spill.flush()  # buffered writes count too
            return os.fstat(self._spill.fileno()).st_size
        return max(self._position, self._old_size if self._keep_old else 0)

    def _send_chunk(self, *, last: bool) -> None:
        """Send the buffer as the next chunk (after the previous one is in)."""
        self._wait_in_flight()
        data = bytes(self._buffer)
        self._buffer.clear()
        number = -1 if last else self._chunks_sent + 1
        self._chunks_sent += 1
        self._in_flight = self.service.submit(self.client.save_chunk(self.temp, data, chunk=number))

    def _wait_in_flight(self) -> ContentsModel | None:
        future, self._in_flight = self._in_flight, None
        if future is None:
            return None
        return self.service.wait(future, path=self.target)

    def _to_spill(self) -> IO[bytes]:
        """Switch to the local temporary file (once) and return it."""
        if self._spill is not None:
            return self._spill
        self._wait_in_flight()
        spill_dir = self.service.options.spill_dir
        spill = tempfile.TemporaryFile(dir=spill_dir)  # noqa: SIM115 - kept until close
        try:
            sent = self._position - len(self._buffer)
            if sent:
                self.service.run(_fetch(self.client, self.temp, 0, spill), path=self.target)
            spill.seek(sent)
            spill.write(self._buffer)
            self._buffer.clear()
            if self._keep_old and self._old_size > self._position:
                coro = _fetch(self.client, self.target, self._position, spill)
                self.service.run(coro, path=self.target)
        except BaseException:
            spill.close()
            raise
        self._spill = spill
        self._hash = None  # computed again from the file at upload
        return spill

    def _upload_rest(self) -> tuple[int, str]:
        """Send everything not sent yet; return the file's size and sha256 (hex)."""
        if self._spill is not None:
            return self._upload_spill(self._spill)
        if self._keep_old and self._old_size > self._position:
            self._copy_old_tail()
        assert self._hash is not None  # noqa: S101 - streaming mode keeps the hash
        if self._chunks_sent == 0:
            data = bytes(self._buffer)
            self._buffer.clear()
            self.service.run(self._save_whole(data), path=self.target)
        else:
            self._send_chunk(last=True)
            self._wait_in_flight()
        return self._position, self._hash.hexdigest()

    async def _save_whole(self, data: bytes) -> ContentsModel:
        return await self.client.save_file(self.temp, data, chunk_size=max(len(data), 1))

    def _copy_old_tail(self) -> None:
        """Stream the old file's bytes beyond what was written into the upload."""
        for piece in self._old_tail_pieces():
            self._store(self._position, piece)

    def _old_tail_pieces(self) -> Iterator[bytes]:
        block = self.service.options.read_block
        offset = self._position
        while offset < self._old_size:
            length = min(block, self._old_size - offset)
            piece = self.service.run(
                self.client.read_range(self.target, offset, length), path=self.target
            )
            if not piece:
                return
            offset += len(piece)
            yield piece

    def _upload_spill(self, spill: IO[bytes]) -> tuple[int, str]:
        digest = hashlib.sha256()
        spill.flush()  # buffered writes count too
        size = os.fstat(spill.fileno()).st_size
        spill.seek(0)
        if size <= self._chunk_size:
            data = spill.read()
            digest.update(data)
            self.service.run(self._save_whole(data), path=self.target)
            return size, digest.hexdigest()
        sent = 0
        number = 1
        while sent < size:
            data = spill.read(min(self._chunk_size, size - sent))
            if not data:
                raise SFTPStatusError.failure(f"/{self.target}: local temporary file shrank")
            sent += len(data)
            digest.update(data)
            self._wait_in_flight()
            chunk = -1 if sent >= size else number
            self._in_flight = self.service.submit(
                self.client.save_chunk(self.temp, data, chunk=chunk)
            )
            number += 1
        self._wait_in_flight()
        return size, digest.hexdigest()

    def _verify(self, size: int, digest: str) -> None:
        """Check the temporary file on the server holds what was sent."""
        check_hash = size <= self.service.options.verify_hash_max
        model = self.service.run(self.client.stat(self.temp, hash=check_hash), path=self.target)
        if model.get("size") is not None and model["size"] != size:
            raise SFTPStatusError.failure(
                f"/{self.target}: the server stored {model['size']} of {size} bytes "
                "(does its contents manager support chunked saves?)"
            )
        theirs = model.get("hash") if check_hash else None
        if theirs and model.get("hash_algorithm", "sha256") == "sha256" and theirs != digest:
            raise SFTPStatusError.failure(
                f"/{self.target}: the server's sha256 of the upload differs from ours"
            )

    def _cleanup(self) -> None:
        """Remove the temporary file on the server (if any reached it) and the local one."""
        with contextlib.suppress(SFTPStatusError):
            self._wait_in_flight()  # a chunk still arriving would re-create the file
        self.service.discard(self.temp)
        self._close_spill()

    def _close_spill(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None


async def _fetch(client: JupyterClient, path: str, offset: int, sink: IO[bytes]) -> None:
    """Append the bytes of ``path`` from ``offset`` to ``sink`` (streamed)."""
    async with contextlib.aclosing(client.download(path, offset=offset)) as stream:
        async for piece in stream:
            sink.write(piece)
