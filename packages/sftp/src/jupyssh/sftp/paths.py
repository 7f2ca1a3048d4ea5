"""SFTP paths to Contents API paths, and back.

The SFTP root ``/`` is the Contents root. Called by the interface for every path a client
sends: relative paths and ``~`` resolve at the root, ``.`` and empty segments vanish,
``..`` steps up but never above the root (that is refused, where ``posixpath.normpath``
would silently clamp it), and a NUL or a backslash is refused outright. The local
``os.path`` is never involved. The result is the unquoted Contents path (``a/b c``, no
leading slash); :func:`jupyssh.core.jupyter.quote_path` quotes every segment on the wire,
so ``#``, ``?`` and ``%`` reach the server as names, not as URL syntax.
"""

from __future__ import annotations

import posixpath

__all__ = ["PathRefused", "contents_path", "sftp_path"]


class PathRefused(ValueError):
    """A client path that may not be used; the message says why (shown to the client)."""


def contents_path(path: str) -> str:
    """The Contents path (``""`` for the root) of the SFTP ``path``.

    :raises PathRefused: NUL, backslash, ``~user``, or a ``..`` that climbs above the root.
    """
    if "\x00" in path:
        raise PathRefused("a path cannot contain a NUL byte")
    if "\\" in path:
        raise PathRefused("a path cannot contain a backslash")
    if path == "~" or path.startswith("~/"):
        path = path[1:]
    elif path.startswith("~"):
        raise PathRefused("~user paths are not supported: there is one user, at /")
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in {"", "."}:
            continue
        if segment == "..":
            if not segments:
                raise PathRefused("the path climbs above the root")
            segments.pop()
            continue
        segments.append(segment)
    return "/".join(segments)


def sftp_path(contents: str) -> str:
    """The absolute SFTP path (``/a/b``) of a Contents path."""
    return posixpath.join("/", contents)
