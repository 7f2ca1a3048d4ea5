"""The Contents API and ranged downloads from ``/files/``: :class:`ContentsClient`, the
part of ``JupyterClient`` that reads, saves (whole, or chunked through
:class:`~jupyssh.core.jupyter.upload.ChunkedUpload`), renames and deletes files.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Literal, cast

import httpx

from jupyssh.core.errors import ConfigError, JupyterError, JupyterHTTPError
from jupyssh.core.jupyter.auth import redact
from jupyssh.core.jupyter.http import HTTPClient, _EncodedJSON, _request_url
from jupyssh.core.jupyter.models import ContentsModel
from jupyssh.core.jupyter.upload import ChunkedUpload
from jupyssh.core.jupyter.urls import quote_path

__all__ = ["DEFAULT_REQUEST_SIZE", "ContentsClient"]

log = logging.getLogger(__name__)

#: Bytes asked for per ranged request to ``/files/``.
DEFAULT_REQUEST_SIZE = 8 * 1024 * 1024

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ContentsClient(HTTPClient):
    """``HTTPClient`` plus the Contents API (see ``JupyterClient``, which is one)."""

    def _contents_url(self, path: str) -> str:
        return self._url("api/contents", quote_path(path))

    async def get_contents(
        self,
        path: str,
        *,
        content: bool = True,
        type: Literal["file", "directory", "notebook"] | None = None,
        format: Literal["text", "base64"] | None = None,
        hash: bool = False,
    ) -> ContentsModel:
        """``GET /api/contents/<path>`` with the API's own query options."""
        params = {"content": "1" if content else "0"}
        if type:
            params["type"] = type
        if format:
            params["format"] = format
        if hash:
            params["hash"] = "1"
        body = await self._json(
            "GET", self._contents_url(path), what=f"get {path!r}", params=params
        )
        return cast("ContentsModel", body)

    async def stat(self, path: str, *, hash: bool = False) -> ContentsModel:
        """A file's or directory's model without its content (``content=0``): cheap."""
        return await self.get_contents(path, content=False, hash=hash)

    async def list_dir(self, path: str = "") -> list[ContentsModel]:
        """The models (without content) of a directory's entries."""
        model = await self.get_contents(path, type="directory")
        return cast("list[ContentsModel]", model["content"] or [])

    async def read_file(self, path: str) -> bytes:
        """A file's bytes, exactly (``type=file&format=base64``, also for notebooks).

        The server reads the whole file into memory; prefer ``download`` for large ones.
        """
        model = await self.get_contents(path, type="file", format="base64")
        if model.get("format") != "base64" or not isinstance(model.get("content"), str):
            raise JupyterError(f"read {path!r}: the server did not answer with base64 content")
        return base64.b64decode(model["content"])

    async def _put(
        self, path: str, body: Mapping[str, Any] | _EncodedJSON, *, what: str
    ) -> ContentsModel:
        json = body if isinstance(body, _EncodedJSON) else dict(body)
        model = await self._json("PUT", self._contents_url(path), what=what, json=json)
        return cast("ContentsModel", model)

    async def save_file(
        self, path: str, data: bytes, *, chunk_size: int | None = None
    ) -> ContentsModel:
        """Write ``data`` to ``path`` (created or replaced); return its model.

        Data larger than ``chunk_size`` (default: the client's) goes in chunks with the
        Contents API's ``chunk`` field (:class:`~jupyssh.core.jupyter.upload.ChunkedUpload`
        says how); the size the server reports afterwards is checked, because a contents
        manager without chunk support overwrites on every chunk.
        """
        upload = ChunkedUpload(self, path, chunk_size=chunk_size)
        size = upload.chunk_size
        for start in range(0, max(len(data), 1), size):
            last = start + size >= len(data)
            model = await upload.send(data[start : start + size], last=last)
        return model

    async def save_whole(self, path: str, data: bytes) -> ContentsModel:
        """Write ``data`` to ``path`` in one request (no ``chunk`` field), whatever its size."""
        return await self._put(path, _file_body(data), what=f"save {path!r}")

    async def save_chunk(self, path: str, data: bytes, *, chunk: int) -> ContentsModel:
        """Send one chunk of a chunked save (``chunk`` 1, 2, …, or -1 for the last).

        Chunk 1 truncates the file; every other chunk, -1 included, appends. A file that
        fits in one request must therefore go without ``chunk`` (``save_whole``;
        :class:`~jupyssh.core.jupyter.upload.ChunkedUpload` applies these rules).
        """
        if chunk == 0 or chunk < -1:
            raise ConfigError(f"chunk must be 1, 2, … or -1 (last), not {chunk}")
        return await self._put(
            path, _file_body(data, chunk=chunk), what=f"save {path!r} (chunk {chunk})"
        )

    async def save_text(self, path: str, text: str) -> ContentsModel:
        """Write ``text`` as UTF-8 to ``path`` (``format=text``)."""
        body = {"type": "file", "format": "text", "content": text}
        return await self._put(path, body, what=f"save {path!r}")

    async def save_notebook(self, path: str, notebook: Mapping[str, Any]) -> ContentsModel:
        """Save a notebook given as its JSON object; the server validates it (nbformat)."""
        body = {"type": "notebook", "format": "json", "content": dict(notebook)}
        return await self._put(path, body, what=f"save notebook {path!r}")

    async def mkdir(self, path: str) -> ContentsModel:
        """Create the directory ``path`` (``PUT type=directory``); its parent must exist."""
        return await self._put(path, {"type": "directory"}, what=f"mkdir {path!r}")

    async def rename(self, path: str, new_path: str) -> ContentsModel:
        """Rename or move ``path`` to ``new_path``; HTTP 409 if ``new_path`` exists."""
        body = {"path": _clean_path(new_path)}
        model = await self._json(
            "PATCH", self._contents_url(path), what=f"rename {path!r}", json=body
        )
        return cast("ContentsModel", model)

    async def delete(self, path: str) -> None:
        """Delete a file or directory (to the server's trash when it uses one)."""
        await self._request("DELETE", self._contents_url(path), what=f"delete {path!r}")

    async def download(
        self,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        request_size: int = DEFAULT_REQUEST_SIZE,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of ``path`` from ``offset`` (``length`` of them, or to the end).

        Reads ``/files/<path>`` with ``Range: bytes=a-b`` requests of ``request_size``.
        jupyter_server serves files with tornado's StaticFileHandler, which honours Range,
        but answers 200 with the whole file when the range covers all of it; a server
        that ignores Range also answers 200. Either way the bytes before ``offset`` are
        then skipped here, so the result is right, and ``range_supported`` records what
        the server did. Close the iterator (``contextlib.aclosing``) if you stop early.
        """
        if offset < 0 or (length is not None and length < 0) or request_size <= 0:
            raise ConfigError("offset, length and request_size must not be negative")
        url = self._url("files", quote_path(path))
        what = f"download {path!r}"
        position, end = offset, None if length is None else offset + length
        while end is None or position < end:
            last = position + request_size if end is None else min(end, position + request_size)
            response = await self._range_request(url, position, last, what=what)
            if response is None:
                return
            total: int | None = None
            partial = response.status_code == 206
            try:
                if partial:
                    total = _content_range_total(response, position)
                    self.range_supported = True
                    body = response.aiter_bytes()
                else:  # 200: the whole file from its first byte
                    if position > 0:
                        self.range_supported = False
                        log.debug("%s ignored Range: skipping %d bytes", redact(url), position)
                    body = _slice_stream(response.aiter_bytes(), position, end)
                async for chunk in body:
                    position += len(chunk)
                    yield chunk
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, what=what, url=url) from None
            finally:
                await response.aclose()
            if not partial or position < last or (total is not None and position >= total):
                return  # all of it, or a short answer: the end of the file

    async def _range_request(
        self, url: str, first: int, end: int, *, what: str
    ) -> httpx.Response | None:
        """A streamed ``GET`` of bytes ``first`` to ``end - 1``; ``None`` past the end (416)."""
        # identity: a compressed answer would make the byte range meaningless.
        headers = {"Range": f"bytes={first}-{end - 1}", "Accept-Encoding": "identity"}
        try:
            return await self._request("GET", url, what=what, headers=headers, stream=True)
        except JupyterHTTPError as exc:
            if exc.status == 416:  # the range starts at or past the end: nothing left
                return None
            raise

    async def read_range(self, path: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``path`` from ``offset`` (fewer at the end of the file)."""
        pieces = []
        async with contextlib.aclosing(
            self.download(path, offset=offset, length=length, request_size=max(length, 1))
        ) as stream:
            async for piece in stream:
                pieces.append(piece)
        return b"".join(pieces)


def _file_body(data: bytes, *, chunk: int | None = None) -> _EncodedJSON:
    """The Contents API body that saves ``data`` (as chunk ``chunk`` when given), encoded.

    Built as bytes rather than through ``json``: base64's alphabet needs no JSON escaping,
    and the encoder's scan of a multi-megabyte string sat between two chunks of an
    upload (measured: about a fifth of an SFTP upload's critical path).
    """
    fields = b'{"type":"file","format":"base64",'
    if chunk is not None:
        fields += b'"chunk":%d,' % chunk
    return _EncodedJSON(fields + b'"content":"' + base64.b64encode(data) + b'"}')


def _clean_path(path: str) -> str:
    # The same normalisation quote_path applies, unquoted: for paths sent in JSON bodies.
    quote_path(path)  # validates (no NUL, no ..)
    return "/".join(s for s in path.split("/") if s not in {"", "."})


def _content_range_total(response: httpx.Response, position: int) -> int | None:
    """The file size from a 206's ``Content-Range``, after checking where it starts."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if match is None:
        raise JupyterError(
            "a 206 answer without a usable Content-Range", where=_request_url(response)
        )
    if int(match.group(1)) != position:
        raise JupyterError(
            f"asked for bytes from {position}, the server sent from {match.group(1)}",
            where=_request_url(response),
        )
    return None if match.group(3) == "*" else int(match.group(3))


async def _slice_stream(
    chunks: AsyncIterator[bytes], start: int, end: int | None
) -> AsyncIterator[bytes]:
    """The bytes of ``chunks`` from ``start`` up to ``end`` (exclusive, or all)."""
    seen = 0
    async for chunk in chunks:
        lo, hi = max(start - seen, 0), len(chunk) if end is None else min(end - seen, len(chunk))
        seen += len(chunk)
        if lo < hi:
            yield chunk[lo:hi]
        if end is not None and seen >= end:
            return
