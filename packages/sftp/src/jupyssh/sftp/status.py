"""SFTP status codes with a message, and how Jupyter's errors map onto them.

The interface and its handles raise :class:`SFTPStatusError` for every failure; the
interface turns it into paramiko's return convention (an ``SFTP_*`` code) and remembers the
message, which :class:`jupyssh.sftp.server.JupyterSFTPServer` sends with the status so that
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

__all__ = ["HIDDEN_HINT", "SFTPStatusError", "from_jupyter_error", "is_hidden", "missing"]

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
        return cls(SFTP_NO_SUCH_FILE, f"{_show(path)}: no such file or directory")

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
        return SFTPStatusError.denied(f"{_show(path)}: not found, or hidden: {HIDDEN_HINT}")
    return SFTPStatusError.no_such_file(path)


def from_jupyter_error(exc: JupysshError, path: str) -> SFTPStatusError:
    """The SFTP status for a ``JupyterClient`` error raised while working on ``path``."""
    hidden = is_hidden(path)
    if isinstance(exc, JupyterNotFoundError):
        return missing(path)
    if isinstance(exc, JupyterAuthError):
        return SFTPStatusError.denied(f"{_show(path)}: {exc.message}")
    if isinstance(exc, JupyterHTTPError) and exc.status == 400 and hidden:
        return SFTPStatusError.denied(f"{_show(path)}: {HIDDEN_HINT}")
    return SFTPStatusError.failure(f"{_show(path)}: {exc.message}")


def _show(path: str) -> str:
    return "/" + path
