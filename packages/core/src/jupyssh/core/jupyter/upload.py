"""``ChunkedUpload``: the Contents API's rules for saving one file in pieces, in one place.

jupyter_server's ``LargeFileManager`` (the default) takes a file in chunks through the
``chunk`` field of ``PUT /api/contents/<path>``: 1 truncates and writes, 2, 3, … append,
-1 appends the last piece and runs the post-save hooks. A file that fits in one request
goes without ``chunk`` at all (chunk 1 alone would leave it open to appends, and -1 alone
would append to an old file). A contents manager without chunk support overwrites on every
chunk, so the size the server reports after the last piece is checked.

``JupyterClient.save_file`` sends a whole ``bytes`` through it; the SFTP server feeds it
piece by piece as a client writes, with one piece on the wire while the next fills. The
bookkeeping (which number a piece gets) happens when :meth:`ChunkedUpload.send` is called,
not when its coroutine runs, so a caller may start the next piece's coroutine on an event
loop before awaiting the previous one's result.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from jupyssh.core.errors import ConfigError, JupyterError
from jupyssh.core.jupyter.models import ContentsModel

__all__ = ["DEFAULT_CHUNK_SIZE", "ChunkSaver", "ChunkedUpload"]


class ChunkSaver(Protocol):
    """What an upload saves through (:class:`~jupyssh.core.jupyter.contents.ContentsClient`,
    which builds on this module: a protocol keeps the import one way)."""

    @property
    def base_url(self) -> str: ...

    @property
    def chunk_size(self) -> int: ...

    async def save_whole(self, path: str, data: bytes) -> ContentsModel: ...

    async def save_chunk(self, path: str, data: bytes, *, chunk: int) -> ContentsModel: ...


#: Bytes per chunk of a chunked save: JupyterLab's size (filebrowser ``CHUNK_SIZE``), so
#: that proxies configured for JupyterLab uploads (body limits) let ours through too.
DEFAULT_CHUNK_SIZE = 1024 * 1024


class ChunkedUpload:
    """One file saved to ``path`` in pieces, in order.

    Call :meth:`send` for each piece, ``last=True`` for the final one (which may be
    empty); await each coroutine before awaiting the next one's. ``chunk_size`` is the
    size callers should cut pieces to (``None``: the client's); pieces of any size work.
    """

    def __init__(self, client: ChunkSaver, path: str, *, chunk_size: int | None = None) -> None:
        size = client.chunk_size if chunk_size is None else chunk_size
        if size <= 0:
            raise ConfigError(f"chunk_size must be positive, not {size}")
        self.client = client
        self.path = path
        self.chunk_size = size
        #: Bytes handed to :meth:`send` so far.
        self.size = 0
        self._pieces = 0
        self._finished = False

    @property
    def started(self) -> bool:
        """Whether a piece was sent (then the file exists on the server, maybe partly)."""
        return self._pieces > 0

    @property
    def finished(self) -> bool:
        """Whether the last piece was sent."""
        return self._finished

    def send(self, data: bytes, *, last: bool = False) -> Coroutine[Any, Any, ContentsModel]:
        """The coroutine that saves the next piece; the last one also checks the size.

        :raises ConfigError: a piece after the last one.
        """
        if self._finished:
            raise ConfigError(f"save {self.path!r}: the upload is already finished")
        if last and not self._pieces:
            chunk: int | None = None  # the whole file in one request
        else:
            chunk = -1 if last else self._pieces + 1
        self._pieces += 1
        self.size += len(data)
        self._finished = last
        return self._save(data, chunk, expected=self.size if last else None)

    async def _save(self, data: bytes, chunk: int | None, *, expected: int | None) -> ContentsModel:
        if chunk is None:
            model = await self.client.save_whole(self.path, data)
        else:
            model = await self.client.save_chunk(self.path, data, chunk=chunk)
        if chunk is not None and expected is not None:
            stored = model.get("size")
            if stored is not None and stored != expected:
                raise JupyterError(
                    f"save {self.path!r}: the server stored {stored} of {expected} bytes",
                    where=self.client.base_url,
                    hint="its contents manager does not append chunks; raise chunk_size above "
                    "the file size or use jupyter_server's LargeFileManager",
                )
        return model
