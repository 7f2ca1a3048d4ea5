"""``JupyterSFTPInterface``: paramiko's ``SFTPServerInterface`` over the Contents API.

paramiko makes one per SFTP session (``sftp_si(server, *args)``, with ``args`` from
``set_subsystem_handler``: here the :class:`~jupyssh.sftp.service.SFTPService`) and calls
its methods on the session's thread, one request at a time.

What maps to what (details in ``docs/packages/sftp.md``):

==================  ==========================================================
SFTP                Contents API
==================  ==========================================================
stat / lstat        ``GET /api/contents/<p>?content=0`` (no download)
opendir / readdir   ``GET /api/contents/<p>?type=directory`` (all entries)
open for reading    ``GET /files/<p>`` with ``Range`` (:class:`ReadHandle`)
open for writing    chunked ``PUT`` to ``<p>.jupyssh-<random>.part``, renamed over
                    ``<p>`` at close (:class:`WriteHandle`)
rename              ``PATCH`` (fails if the target exists, as SFTP v3 says)
posix-rename        ``PATCH``, replacing an existing file
remove / rmdir      ``DELETE`` after checking the type (and emptiness)
mkdir               ``PUT type=directory`` after checking nothing is there
setstat size        rewrite through a :class:`WriteHandle`; modes and times: no-op
symlink / readlink  ``OP_UNSUPPORTED``
==================  ==========================================================
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from paramiko import ServerInterface, SFTPAttributes, SFTPHandle, SFTPServerInterface
from paramiko.sftp import SFTP_OK

from jupyssh.sftp.attrs import attributes
from jupyssh.sftp.handles import ReadHandle, WriteHandle
from jupyssh.sftp.paths import PathRefused, contents_path, sftp_path
from jupyssh.sftp.service import SFTPService
from jupyssh.sftp.status import SFTPStatusError, missing, printable, show, too_large
from jupyssh.sftp.upload import Upload

__all__ = ["JupyterSFTPInterface"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_ACCESS = os.O_RDONLY | os.O_WRONLY | os.O_RDWR


class JupyterSFTPInterface(SFTPServerInterface):
    """One SFTP session's view of the Jupyter server's files.

    Every method returns what paramiko expects (attributes, a handle, a list, or an
    ``SFTP_*`` code). On failure the message is kept in :attr:`last_error` for
    :class:`~jupyssh.sftp.subsystem.JupyterSFTPServer` to send with the status; under plain
    ``paramiko.SFTPServer`` clients get the code alone.
    """

    def __init__(self, server: ServerInterface, service: SFTPService, *args: Any) -> None:
        super().__init__(server)
        self.service = service
        #: The message of the last failure, sent with its status (then cleared).
        self.last_error: str | None = None
        self._writes: set[WriteHandle] = set()
        self._writes_lock = threading.Lock()

    # --- plumbing ----------------------------------------------------------------------------

    def fail(self, error: SFTPStatusError) -> int:
        """Remember ``error``'s message for the status reply; return its code."""
        self.last_error = error.message
        logger.debug("sftp: %s", printable(error.message))
        return error.code

    def forget(self, handle: WriteHandle) -> None:
        """A write handle closed or aborted (called by the handle)."""
        with self._writes_lock:
            self._writes.discard(handle)

    def _answer(self, action: Callable[[], _T]) -> _T | int:
        try:
            return action()
        except PathRefused as exc:
            return self.fail(SFTPStatusError.denied(str(exc)))
        except SFTPStatusError as exc:
            return self.fail(exc)

    def _model(self, path: str) -> Any:
        model = self.service.stat_or_none(path)
        if model is None:
            raise missing(path)
        return model

    # --- session -----------------------------------------------------------------------------

    def session_started(self) -> None:
        self.service.session_started()

    def session_ended(self) -> None:
        """The channel closed: abandon uploads still open (paramiko calls ``close`` on every
        open handle right after this; an abandoned upload must not be committed then)."""
        with self._writes_lock:
            writes, self._writes = list(self._writes), set()
        try:
            for handle in writes:
                handle.abort()
        finally:
            self.service.session_ended()

    # --- paths -------------------------------------------------------------------------------

    def canonicalize(self, path: str) -> str:
        """REALPATH: the absolute, normalised path; raises for a refused path (the server
        class answers PERMISSION_DENIED with the reason)."""
        try:
            return sftp_path(contents_path(path))
        except PathRefused as exc:
            raise SFTPStatusError.denied(str(exc)) from None

    def stat(self, path: str) -> SFTPAttributes | int:
        return self._answer(lambda: attributes(self._model(contents_path(path))))

    def lstat(self, path: str) -> SFTPAttributes | int:
        """The Contents API follows links; so does this."""
        return self.stat(path)

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        def listing() -> list[SFTPAttributes]:
            folder = contents_path(path)
            models = self.service.run(self.service.client.list_dir(folder), path=folder)
            return [attributes(model) for model in models]

        return self._answer(listing)

    # --- files -------------------------------------------------------------------------------

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        return self._answer(lambda: self._open(contents_path(path), flags))

    def _open(self, path: str, flags: int) -> SFTPHandle:
        if not path:
            raise SFTPStatusError.failure("/: is a directory")
        existing = self.service.stat_or_none(path)
        if existing is not None and existing["type"] == "directory":
            raise SFTPStatusError.failure(f"{show(path)}: is a directory")
        if flags & _ACCESS == os.O_RDONLY:
            if existing is None:
                raise missing(path)
            return ReadHandle(self.service, self, path, existing, flags)
        if existing is not None:
            if flags & os.O_CREAT and flags & os.O_EXCL:
                raise SFTPStatusError.failure(f"{show(path)}: already exists")
            if not existing.get("writable", True):
                raise SFTPStatusError.denied(f"{show(path)}: the server says it is not writable")
        else:
            if not flags & os.O_CREAT:
                raise missing(path)
            self._check_parent(path)
        handle = WriteHandle(
            self.service,
            self,
            path,
            existing,
            flags,
            truncate=bool(flags & os.O_TRUNC),
            append=bool(flags & os.O_APPEND),
        )
        with self._writes_lock:
            self._writes.add(handle)
        return handle

    def _check_parent(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if not parent:
            return
        model = self.service.stat_or_none(parent)
        if model is None:
            raise missing(parent)
        if model["type"] != "directory":
            raise SFTPStatusError.failure(f"{show(parent)}: not a directory")

    def remove(self, path: str) -> int:
        def remove() -> int:
            target = contents_path(path)
            if self._model(target)["type"] == "directory":
                raise SFTPStatusError.failure(f"{show(target)}: is a directory (use rmdir)")
            self.service.run(self.service.client.delete(target), path=target)
            return SFTP_OK

        return self._answer(remove)

    def rename(self, oldpath: str, newpath: str) -> int:
        """SFTP v3 rename: refuses an existing target (OpenSSH uses posix-rename instead)."""

        def rename() -> int:
            source, target = _renamed(oldpath, newpath)
            self._model(source)
            if self.service.stat_or_none(target) is not None:
                raise SFTPStatusError.failure(f"{show(target)}: already exists")
            self._check_parent(target)
            self.service.run(self.service.client.rename(source, target), path=source)
            return SFTP_OK

        return self._answer(rename)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        """``posix-rename@openssh.com``: rename, replacing an existing file (not a folder)."""

        def rename() -> int:
            source, target = _renamed(oldpath, newpath)
            if source == target:
                self._model(source)
                return SFTP_OK
            model = self._model(source)
            if model["type"] == "directory" and self.service.stat_or_none(target) is not None:
                raise SFTPStatusError.failure(f"{show(target)}: already exists")
            self._check_parent(target)
            self.service.replace(source, target)
            return SFTP_OK

        return self._answer(rename)

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        """setstat: a size rewrites the file to that size; modes, owners and times are
        accepted as a no-op (the Contents API has none of them)."""

        def chattr() -> int:
            target = contents_path(path)
            model = self._model(target)
            if attr.st_size is None:
                return SFTP_OK
            if model["type"] == "directory":
                raise SFTPStatusError.failure(f"{show(target)}: is a directory")
            size = int(attr.st_size)
            if int(model.get("size") or 0) == size:
                return SFTP_OK
            if size > self.service.options.max_file_size:
                raise too_large(target, size, self.service.options.max_file_size)
            upload = Upload(self.service, target, model, truncate=False, append=False)
            try:
                upload.truncate(size)
            except BaseException:
                upload.abort()
                raise
            upload.finish()
            return SFTP_OK

        return self._answer(chattr)

    # --- folders -----------------------------------------------------------------------------

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        def mkdir() -> int:
            target = contents_path(path)
            if not target or self.service.stat_or_none(target) is not None:
                raise SFTPStatusError.failure(f"{show(target)}: already exists")
            self._check_parent(target)
            self.service.run(self.service.client.mkdir(target), path=target)
            return SFTP_OK

        return self._answer(mkdir)

    def rmdir(self, path: str) -> int:
        """Only an empty folder: the Contents API would send a whole tree to the trash."""

        def rmdir() -> int:
            target = contents_path(path)
            if not target:
                raise SFTPStatusError.denied("/: the root cannot be removed")
            if self._model(target)["type"] != "directory":
                raise SFTPStatusError.failure(f"{show(target)}: not a directory")
            entries = self.service.run(self.service.client.list_dir(target), path=target)
            if entries:
                raise SFTPStatusError.failure(f"{show(target)}: directory not empty")
            self.service.run(self.service.client.delete(target), path=target)
            return SFTP_OK

        return self._answer(rmdir)

    # --- links -------------------------------------------------------------------------------

    def readlink(self, path: str) -> str | int:
        return self.fail(SFTPStatusError.unsupported("symbolic links are not supported"))

    def symlink(self, target_path: str, path: str) -> int:
        return self.fail(SFTPStatusError.unsupported("symbolic links are not supported"))


def _renamed(oldpath: str, newpath: str) -> tuple[str, str]:
    """The Contents paths of a rename; the root is neither renamed nor replaced (Jupyter
    would answer 500 with its absolute root path)."""
    source, target = contents_path(oldpath), contents_path(newpath)
    if not source:
        raise SFTPStatusError.denied("/: the root cannot be renamed")
    if not target:
        raise SFTPStatusError.denied("/: nothing can be renamed onto the root")
    return source, target
