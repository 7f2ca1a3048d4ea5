"""``Upload``: the bytes of one file a client writes, on their way to the Jupyter server.

Nothing touches ``target`` until :meth:`Upload.finish`: the bytes go to a temporary name
next to it (``side_name(target, "part")``), which ``finish`` checks and renames over
``target`` (:meth:`SFTPService.replace`). :meth:`Upload.abort` removes the temporary file
and leaves ``target`` alone.

*Streaming* (the common case: writes arrive in order from offset 0): bytes collect in a
buffer that goes out as the pieces of a :class:`~jupyssh.core.jupyter.ChunkedUpload`, one
piece on the wire while the next fills.

*Spilled* (a write elsewhere than the end, a truncation below it, a read, append mode):
what was streamed so far is fetched back into a private local temporary file, the old
content is added after it when the file was opened without truncation, and from then on
every operation works on that file; ``finish`` uploads it.

Without ``O_TRUNC`` the old bytes beyond what the client writes stay (POSIX semantics): in
streaming mode they are copied from the old file at the end unless a size change cut them
first, which is what ``scp`` ≥ 9.1 does.

What a client can make the server hold is bounded (see :mod:`jupyssh.sftp.limits`): the
buffer and the piece in flight draw from the service's buffer budget (past it, the buffer
is sent at once and waited for), the local file from its spill budget (past it, the write
fails), and no write or size change may make the file larger than ``max_file_size``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import IO

from jupyssh.core.jupyter import ChunkedUpload, ContentsModel, JupyterClient
from jupyssh.sftp.service import SFTPService, side_name
from jupyssh.sftp.status import SFTPStatusError, is_hidden, show, too_large

__all__ = ["Upload"]

logger = logging.getLogger(__name__)


class Upload:
    """One file being written to ``target`` (which exists when ``existing`` is its model).

    Methods raise :class:`~jupyssh.sftp.status.SFTPStatusError`; they run on one session
    thread at a time and wait on the service's loop.
    """

    def __init__(
        self,
        service: SFTPService,
        target: str,
        existing: ContentsModel | None,
        *,
        truncate: bool,
        append: bool,
    ) -> None:
        self.service = service
        self.target = target
        self.temp = side_name(target, "part")
        self._keep_old = existing is not None and not truncate
        self._old_size = int(existing.get("size") or 0) if existing is not None else 0
        self._append = append
        self._chunks = self._new_chunks()
        self._position = 0  # bytes streamed: sent in pieces plus the buffer
        self._buffer = bytearray()
        self._buffer_charge = 0  # bytes of the buffer budget the buffer holds
        self._in_flight: concurrent.futures.Future[ContentsModel] | None = None
        self._in_flight_charge = 0
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._spill: IO[bytes] | None = None
        self._spill_charge = 0  # bytes of the spill budget the local file holds
        self._done = False
        if is_hidden(target):
            # the server may refuse dotfiles: find out now, so that open fails, not close
            self.service.run(self.client.save_whole(self.temp, b""), path=target)
        if append:
            self._to_spill()

    @property
    def client(self) -> JupyterClient:
        return self.service.client

    @property
    def done(self) -> bool:
        """Whether :meth:`finish` or :meth:`abort` ran."""
        return self._done

    # --- what a handle does --------------------------------------------------------------------

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (at the end in append mode)."""
        if self._done:
            raise SFTPStatusError.failure("file is closed")
        end = (self.length() if self._append else offset) + len(data)
        self._check_size(end)
        if self._spill is None and offset == self._position and not self._append:
            self._stream(data)
            return
        spill = self._to_spill()
        self._reserve_spill(end)
        spill.seek(end - len(data))
        spill.write(data)

    def read(self, offset: int, length: int) -> bytes:
        """What the file holds at ``offset`` (the local copy, made now if needed)."""
        spill = self._to_spill()
        if offset >= self.length():  # also where seek() would overflow
            return b""
        spill.seek(offset)
        return spill.read(length)

    def truncate(self, size: int) -> None:
        """Cut or extend the file to ``size`` bytes."""
        if size < 0:
            raise SFTPStatusError.failure("a size cannot be negative")
        self._check_size(size)
        if self._spill is None and size == self._position:
            self._keep_old = False  # the old tail is cut off: nothing to copy at the end
            return
        spill = self._to_spill()
        self._reserve_spill(size)
        spill.truncate(size)

    def length(self) -> int:
        """The file's size as the client sees it now."""
        if self._spill is not None:
            self._spill.flush()  # buffered writes count too
            return os.fstat(self._spill.fileno()).st_size
        return max(self._position, self._old_size if self._keep_old else 0)

    def finish(self) -> None:
        """Send the rest, check what the server stored, put it in place of ``target``."""
        if self._done:
            return
        self._done = True
        try:
            size, digest = self._upload_rest()
            self._verify(size, digest)
            self.service.replace(self.temp, self.target)
        except SFTPStatusError:
            self._cleanup()
            raise
        except Exception as exc:  # a local disk error, a bug: the client must still know
            self._cleanup()
            raise SFTPStatusError.failure(f"{show(self.target)}: upload failed: {exc}") from exc
        self._close_spill()

    def abort(self) -> None:
        """Drop the upload (the client went away): remove the temporary file."""
        if self._done:
            return
        self._done = True
        logger.info(
            "upload of %s abandoned by the client: removing %s", show(self.target), show(self.temp)
        )
        self._cleanup()

    # --- limits -------------------------------------------------------------------------------

    def _check_size(self, size: int) -> None:
        limit = self.service.options.max_file_size
        if size > limit:
            raise too_large(self.target, size, limit)

    def _reserve_spill(self, size: int) -> None:
        """Count a local file of ``size`` bytes against the service's spill budget."""
        more = size - self._spill_charge
        if more <= 0:
            return
        if not self.service.spills.take(more):
            raise SFTPStatusError.failure(
                f"{show(self.target)}: no room for another {more} bytes of local temporary "
                "files (the server's spill budget is in use); write the file in order, "
                "or retry later"
            )
        self._spill_charge = size

    # --- streaming ----------------------------------------------------------------------------

    def _new_chunks(self) -> ChunkedUpload:
        return ChunkedUpload(self.client, self.temp, chunk_size=self.service.options.chunk_size)

    def _stream(self, data: bytes) -> None:
        buffers = self.service.buffers
        charged = buffers.take(len(data))
        if not charged and (self._buffer or self._in_flight is not None):
            # no room: hand over what this upload holds, then try again
            if self._buffer:
                self._send_buffer(last=False)
            self._wait_in_flight()
            charged = buffers.take(len(data))
        self._buffer += data
        self._buffer_charge += len(data) if charged else 0
        self._position += len(data)
        if self._hash is not None:
            self._hash.update(data)
        if not charged:  # still no room: this piece goes now, alone, and is waited for
            self._send_buffer(last=False)
            self._wait_in_flight()
        elif len(self._buffer) >= self._chunks.chunk_size:
            self._send_buffer(last=False)

    def _send_buffer(self, *, last: bool) -> None:
        """Send the buffer as the next piece (after the previous one is in)."""
        self._wait_in_flight()
        data = bytes(self._buffer)
        self._buffer.clear()
        self._in_flight_charge, self._buffer_charge = self._buffer_charge, 0
        self._in_flight = self.service.submit(self._chunks.send(data, last=last))

    def _wait_in_flight(self) -> ContentsModel | None:
        future, self._in_flight = self._in_flight, None
        if future is None:
            return None
        try:
            return self.service.wait(future, path=self.target)
        finally:
            self.service.buffers.give(self._in_flight_charge)
            self._in_flight_charge = 0

    def _upload_rest(self) -> tuple[int, str]:
        """Send everything not sent yet; return the file's size and sha256 (hex)."""
        if self._spill is not None:
            return self._upload_spill(self._spill)
        if self._keep_old and self._old_size > self._position:
            for piece in self._old_tail_pieces():
                self._stream(piece)
        assert self._hash is not None  # noqa: S101 - streaming mode keeps the hash
        self._send_buffer(last=True)
        self._wait_in_flight()
        return self._position, self._hash.hexdigest()

    def _old_tail_pieces(self) -> Iterator[bytes]:
        """The old file's bytes beyond what was written, a read block at a time."""
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

    # --- spilled ------------------------------------------------------------------------------

    def _to_spill(self) -> IO[bytes]:
        """Switch to the local temporary file (once) and return it."""
        if self._spill is not None:
            return self._spill
        self._wait_in_flight()
        keep_old = self._keep_old and self._old_size > self._position
        self._reserve_spill(max(self._position, self._old_size if keep_old else 0))
        spill = tempfile.TemporaryFile(dir=self.service.options.spill_dir)  # noqa: SIM115
        try:
            sent = self._position - len(self._buffer)
            if sent:
                self.service.run(_fetch(self.client, self.temp, 0, spill), path=self.target)
            spill.seek(sent)
            spill.write(self._buffer)
            self._buffer.clear()
            self.service.buffers.give(self._buffer_charge)
            self._buffer_charge = 0
            if keep_old:
                coro = _fetch(self.client, self.target, self._position, spill)
                self.service.run(coro, path=self.target)
        except BaseException:
            spill.close()
            self.service.spills.give(self._spill_charge)
            self._spill_charge = 0
            raise
        self._spill = spill
        self._hash = None  # computed again from the file at upload
        return spill

    def _upload_spill(self, spill: IO[bytes]) -> tuple[int, str]:
        """Upload the local file from its first byte, as a new chunked save."""
        self._wait_in_flight()
        chunks = self._chunks = self._new_chunks()
        digest = hashlib.sha256()
        spill.flush()  # buffered writes count too
        size = os.fstat(spill.fileno()).st_size
        spill.seek(0)
        while True:
            data = spill.read(min(chunks.chunk_size, size - chunks.size))
            if not data and chunks.size < size:
                raise SFTPStatusError.failure(f"{show(self.target)}: local temporary file shrank")
            digest.update(data)
            self._wait_in_flight()
            last = chunks.size + len(data) >= size
            self._in_flight_charge = len(data) if self.service.buffers.take(len(data)) else 0
            self._in_flight = self.service.submit(chunks.send(data, last=last))
            if last:
                break
        self._wait_in_flight()
        return size, digest.hexdigest()

    # --- the end ------------------------------------------------------------------------------

    def _verify(self, size: int, digest: str) -> None:
        """Check the temporary file on the server holds what was sent."""
        check_hash = size <= self.service.options.verify_hash_max
        model = self.service.run(self.client.stat(self.temp, hash=check_hash), path=self.target)
        if model.get("size") is not None and model["size"] != size:
            raise SFTPStatusError.failure(
                f"{show(self.target)}: the server stored {model['size']} of {size} bytes "
                "(does its contents manager support chunked saves?)"
            )
        theirs = model.get("hash") if check_hash else None
        if theirs and model.get("hash_algorithm", "sha256") == "sha256" and theirs != digest:
            raise SFTPStatusError.failure(
                f"{show(self.target)}: the server's sha256 of the upload differs from ours"
            )

    def _cleanup(self) -> None:
        """Remove the temporary file on the server (if any reached it) and the local one."""
        with contextlib.suppress(SFTPStatusError):
            self._wait_in_flight()  # a piece still arriving would re-create the file
        self.service.buffers.give(self._buffer_charge)
        self._buffer_charge = 0
        self._buffer.clear()
        self.service.discard(self.temp)
        self._close_spill()

    def _close_spill(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self.service.spills.give(self._spill_charge)
        self._spill_charge = 0


async def _fetch(client: JupyterClient, path: str, offset: int, sink: IO[bytes]) -> None:
    """Append the bytes of ``path`` from ``offset`` to ``sink`` (streamed)."""
    async with contextlib.aclosing(client.download(path, offset=offset)) as stream:
        async for piece in stream:
            sink.write(piece)
