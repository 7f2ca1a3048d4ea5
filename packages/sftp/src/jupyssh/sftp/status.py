"""SFTP status codes with a message, and how Jupyter's errors map onto them.

The interface and its handles raise :class:`SFTPStatusError` for every failure; the
interface turns it into paramiko's return convention (an ``SFTP_*`` code) and remembers the
message, which :class:`jupyssh.sftp.subsystem.JupyterSFTPServer` sends with the status so that
``sftp`` prints *why* (``remote open("x"): Permission denied`` becomes a sentence).

Mapping (OpenSSH's ``sftp-server.c`` ``errno_to_portable`` is the model):

=========================================  ===========================================
Jupyter answer                             SFTP status
=========================================  ===========================================
404                                        ``NO_SUCH_FILE`` (``PERMISSION_DENIED`` on a
                                           hidden path: the server hides dotfiles)
401 / 403                                  ``PERMISSION_DENIED``
400 on a hidden path                       ``PERMISSION_DENIED``, naming
                                           ``ContentsManager.allow_hidden``
409 (exists), other 4xx/5xx, unreachable   ``FAILURE`` with the server's reason
=========================================  ===========================================
"""

from __future__ import annotations

from paramiko.sftp import (
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)

from jupyssh.core.errors import (
    JupysshError,
    JupyterAuthError,
    JupyterHTTPError,
    JupyterNotFoundError,
)

__all__ = [
    "HIDDEN_HINT",
    "SFTPStatusError",
    "from_jupyter_error",
    "is_hidden",
    "missing",
    "printable",
    "show",
    "too_large",
]

#: What a client is told when the server refuses a dotfile.
HIDDEN_HINT = (
    "the Jupyter server refuses hidden files and folders (names starting with '.'); "
    "start it with --ContentsManager.allow_hidden=True to allow them"
)


class SFTPStatusError(Exception):
    """A failed SFTP request: the status ``code`` to answer and a one-line ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def no_such_file(cls, path: str) -> SFTPStatusError:
        return cls(SFTP_NO_SUCH_FILE, f"{show(path)}: no such file or directory")

    @classmethod
    def failure(cls, message: str) -> SFTPStatusError:
        return cls(SFTP_FAILURE, message)

    @classmethod
    def denied(cls, message: str) -> SFTPStatusError:
        return cls(SFTP_PERMISSION_DENIED, message)

    @classmethod
    def unsupported(cls, message: str) -> SFTPStatusError:
        return cls(SFTP_OP_UNSUPPORTED, message)


def is_hidden(path: str) -> bool:
    """Whether a Contents path has a segment the server may treat as hidden."""
    return any(segment.startswith(".") for segment in path.split("/") if segment)


def missing(path: str) -> SFTPStatusError:
    """The status for a path the server says does not exist (it may be hiding it)."""
    if is_hidden(path):
        return SFTPStatusError.denied(f"{show(path)}: not found, or hidden: {HIDDEN_HINT}")
    return SFTPStatusError.no_such_file(path)


def from_jupyter_error(exc: JupysshError, path: str) -> SFTPStatusError:
    """The SFTP status for a ``JupyterClient`` error raised while working on ``path``."""
    hidden = is_hidden(path)
    if isinstance(exc, JupyterNotFoundError):
        return missing(path)
    if isinstance(exc, JupyterAuthError):
        return SFTPStatusError.denied(f"{show(path)}: {exc.message}")
    if isinstance(exc, JupyterHTTPError) and exc.status == 400 and hidden:
        return SFTPStatusError.denied(f"{show(path)}: {HIDDEN_HINT}")
    return SFTPStatusError.failure(f"{show(path)}: {exc.message}")


def show(path: str) -> str:
    """A Contents path as the client named it (``/a/b``), fit for a message or a log line."""
    return printable("/" + path)


def printable(text: str) -> str:
    """``text`` with every character that is not printable (newlines, escape sequences,
    line separators) written as its Python escape: a client's name in a log line cannot
    start a forged line or move the terminal's cursor."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def too_large(path: str, size: int, limit: int) -> SFTPStatusError:
    """The status for a write or a size change that would make ``path`` ``size`` bytes."""
    return SFTPStatusError.failure(
        f"{show(path)}: {size} bytes would exceed the largest file this server accepts, "
        f"{_bytes(limit)} (--max-file-size)"
    )


def _bytes(size: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"
