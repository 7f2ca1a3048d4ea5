"""The files tools' policy, whatever holds the files (an ssh alias over SFTP, a Jupyter
server's Contents API): paths stay under the place's root, a read is capped and says
where it was cut, binary content travels as base64, a write is refused before anything
is sent when it is too large or would land on a directory.

A :class:`FileStore` is one tool call's view of one place; :class:`Files` runs the four
tools (read, write, list, stat) on any store, so that both places refuse the same paths
with the same words.
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from jupyssh.core.errors import ConfigError

__all__ = ["MAX_LIST", "Entry", "FileStore", "Files", "under_root"]

EntryType = Literal["file", "directory", "symlink", "other"]
#: Entries a listing shows before it is cut (the cut is said).
MAX_LIST = 1000


@dataclass(frozen=True)
class Entry:
    """A file, directory or link as the tools show it."""

    name: str
    path: str
    type: EntryType
    size: int | None = None
    #: Permission bits in octal (``"0644"``), where the place has them.
    mode: str | None = None
    #: Last modification, ISO 8601 (UTC).
    modified: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FileStore(Protocol):
    """One place's files for one tool call; every path given is already resolved by
    :meth:`resolve` (so under the root)."""

    #: The place, for messages: the alias, or ``jupyter:NAME``.
    where: str

    async def resolve(self, path: str, *, for_write: bool = False) -> str:
        """The place's own path for the agent's ``path``: refuses one outside the root
        (after following links where the place has them). ``for_write``: the file may
        not exist yet, its folder must."""
        ...

    async def stat(self, path: str) -> Entry | None:
        """The entry at ``path`` (a link itself, not its target), or None if none."""
        ...

    async def listdir(self, path: str) -> list[Entry]: ...

    async def read(self, path: str, offset: int, length: int) -> bytes: ...

    async def write(self, path: str, data: bytes) -> None:
        """Replace or create the file at ``path`` with ``data``, whole or not at all."""
        ...


def under_root(root: str, path: str) -> str:
    """``path`` (relative to ``root``, or absolute) made absolute and normal, refused when
    it leaves ``root`` (``..``) or holds a NUL; ``""`` is the root itself."""
    if "\0" in path:
        raise ConfigError("a path may not hold a NUL character", where=repr(path))
    joined = posixpath.normpath(posixpath.join(root, path)) if path else root
    if not is_within(root, joined):
        raise bad_path(path, f"the path is outside the root {root}")
    return joined


def is_within(root: str, path: str) -> bool:
    root = posixpath.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def bad_path(path: str, message: str, hint: str | None = None) -> ConfigError:
    """The one error every refused path is: nothing was read or written."""
    return ConfigError(message, where=path or "(root)", hint=hint or "nothing was read or written")


class Files:
    """The four files tools on a store, under the server's limits."""

    def __init__(self, max_read: int, max_write: int) -> None:
        self.max_read = max_read
        self.max_write = max_write

    async def read(
        self, store: FileStore, path: str, offset: int, max_bytes: int | None
    ) -> dict[str, Any]:
        if offset < 0:
            raise ConfigError("offset must not be negative")
        limit = self.max_read if max_bytes is None else min(max(max_bytes, 1), self.max_read)
        real = await store.resolve(path)
        entry = await _existing(store, real, path)
        if entry.type == "directory":
            raise bad_path(path, "this is a directory, not a file", "list it with files_list")
        if entry.type != "file":
            raise bad_path(path, f"this is not a regular file ({entry.type})")
        data = await store.read(real, offset, limit)
        size = entry.size if entry.size is not None else offset + len(data)
        content, encoding, shown = _encoded(data, cut=offset + len(data) < size)
        end = offset + shown
        result: dict[str, Any] = {
            "where": store.where,
            "path": real,
            "size": size,
            "offset": offset,
            "bytes": shown,
            "encoding": encoding,
            "content": content,
            "truncated": end < size,
        }
        if end < size:
            result["next_offset"] = end
            result["note"] = (
                f"truncated: bytes {offset}-{end} of {size} shown; "
                f"read on with offset={end} (at most {self.max_read} bytes a call)"
            )
        return result

    async def write(
        self, store: FileStore, path: str, content: str, encoding: str, overwrite: bool
    ) -> dict[str, Any]:
        data = _decoded(content, encoding)
        if len(data) > self.max_write:
            raise bad_path(
                path,
                f"the content ({len(data)} bytes) is larger than the {self.max_write} "
                "bytes a write may send",
                'nothing was written; raise "max_write_bytes" in the MCP settings',
            )
        real = await store.resolve(path, for_write=True)
        entry = await store.stat(real)
        if entry is not None and entry.type == "directory":
            raise bad_path(path, "a directory is in the way", "nothing was written")
        if entry is not None and not overwrite:
            raise bad_path(
                path, "the file exists", "pass overwrite=true to replace it; nothing was written"
            )
        await store.write(real, data)
        written = await store.stat(real)
        return {
            "where": store.where,
            "path": real,
            "bytes": len(data),
            "replaced": entry is not None,
            "size": written.size if written else None,
        }

    async def list(self, store: FileStore, path: str) -> dict[str, Any]:
        real = await store.resolve(path)
        entry = await _existing(store, real, path)
        if entry.type != "directory":
            raise bad_path(path, "this is not a directory", "read it with files_read")
        entries = sorted(await store.listdir(real), key=lambda e: e.name)
        shown = entries[:MAX_LIST]
        result: dict[str, Any] = {
            "where": store.where,
            "path": real,
            "entries": [e.to_dict() for e in shown],
            "count": len(entries),
            "truncated": len(entries) > len(shown),
        }
        if result["truncated"]:
            result["note"] = f"truncated: {len(shown)} of {len(entries)} entries shown"
        return result

    async def stat(self, store: FileStore, path: str) -> dict[str, Any]:
        real = await store.resolve(path)
        entry = await _existing(store, real, path)
        return {"where": store.where, **entry.to_dict()}


async def _existing(store: FileStore, real: str, path: str) -> Entry:
    entry = await store.stat(real)
    if entry is None:
        raise bad_path(path, f"no such file or directory on {store.where}")
    return entry


def _encoded(data: bytes, *, cut: bool) -> tuple[str, Literal["utf-8", "base64"], int]:
    """``(content, encoding, bytes shown)``: text when ``data`` is UTF-8 without NULs
    (a character split by the cut is left for the next read), else base64."""
    if b"\0" not in data:
        for drop in range(4 if cut else 1):
            try:
                text = data[: len(data) - drop].decode("utf-8")
            except UnicodeDecodeError:
                continue
            return text, "utf-8", len(data) - drop
    return base64.b64encode(data).decode("ascii"), "base64", len(data)


def _decoded(content: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return content.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except ValueError:
            raise ConfigError(
                "the content is not valid base64", hint="nothing was written"
            ) from None
    raise ConfigError(f"unknown encoding {encoding!r}", hint='use "utf-8" or "base64"')
