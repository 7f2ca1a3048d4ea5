"""``JupyterSFTPServer``: paramiko's ``SFTPServer`` with the extensions OpenSSH needs and
messages on every failure.

paramiko (3.5 to 5.1) implements ``posix-rename@openssh.com`` but advertises only
``check-file`` in its VERSION reply, so OpenSSH's ``sftp`` never uses it and editors'
save-by-rename fails on an existing file. This subclass advertises:

- ``posix-rename@openssh.com`` (dispatched by paramiko to ``posix_rename``);
- ``limits@openssh.com``: OpenSSH then reads and writes up to 255 KiB per request instead
  of 32 KiB, eight times fewer round trips through paramiko's one-request-at-a-time loop;
- ``expand-path@openssh.com``: ``~`` and ``~/…`` resolve at the root.

It also sends the interface's failure message with each status (``last_error``), turns an
:class:`~jupyssh.sftp.status.SFTPStatusError` raised by ``canonicalize`` or a handle's
``close`` into its status (paramiko would answer a bare FAILURE to the first and *OK* to a
``close`` that returned an error code), and drops the handle table entry either way.
These override private paramiko methods, hence the pinned paramiko range.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_INIT,
    CMD_NAME,
    CMD_VERSION,
    SFTP_BAD_MESSAGE,
    SFTP_EOF,
    SFTP_OK,
    SFTPError,
)

from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.status import SFTPStatusError

__all__ = ["EXTENSIONS", "MAX_PACKET", "MAX_READ_WRITE", "JupyterSFTPServer"]

_SFTP_VERSION = 3
#: OpenSSH sftp-server's own limits (sftp-common.h SFTP_MAX_MSG_LENGTH, minus headers).
MAX_PACKET = 256 * 1024
MAX_READ_WRITE = MAX_PACKET - 1024
MAX_OPEN_HANDLES = 64
#: (name, version) pairs of the VERSION reply.
EXTENSIONS = (
    ("posix-rename@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
)


class JupyterSFTPServer(paramiko.SFTPServer):
    """The SFTP subsystem handler; register it with
    :meth:`SFTPService.install <jupyssh.sftp.service.SFTPService.install>`."""

    server: JupyterSFTPInterface

    def _send_server_version(self) -> int:
        """Answer INIT with version 3 and :data:`EXTENSIONS` (paramiko's lists check-file
        only; it waits for INIT first, as WinSCP needs)."""
        t, data = self._read_packet()  # type: ignore[attr-defined]  # private, untyped
        if t != CMD_INIT:
            raise SFTPError("Incompatible sftp protocol")
        version: int = struct.unpack(">I", data[:4])[0]
        msg = Message()
        msg.add_int(_SFTP_VERSION)
        for name, value in EXTENSIONS:
            msg.add_string(name)
            msg.add_string(value)
        self._send_packet(CMD_VERSION, msg)  # type: ignore[attr-defined]
        return version

    def _process(self, t: int, request_number: int, msg: Message) -> None:
        self.server.last_error = None
        try:
            if t == CMD_EXTENDED and self._extended(request_number, msg):
                return
            if t == CMD_CLOSE:
                self._close(request_number, msg)
                return
            super()._process(t, request_number, msg)  # type: ignore[misc]
        except SFTPStatusError as exc:
            self._send_status(request_number, exc.code, exc.message)

    def finish_subsystem(self) -> None:
        """The session ended: tell the client its "command" succeeded, as sshd does when
        sftp-server exits (``scp`` fails on a missing exit status), then let paramiko end
        the session (``session_ended``, which abandons open uploads, then the handles)."""
        channel = self.sock
        if channel is not None:
            with contextlib.suppress(Exception):  # the channel may already be gone
                channel.send_exit_status(0)
        super().finish_subsystem()

    def _send_status(self, request_number: int, code: int, desc: Any = None) -> None:
        if desc is None and code not in {SFTP_OK, SFTP_EOF} and self.server.last_error:
            desc = self.server.last_error
        self.server.last_error = None
        super()._send_status(request_number, code, desc)  # type: ignore[misc]

    def _extended(self, request_number: int, msg: Message) -> bool:
        """Answer the extensions paramiko does not know; ``False`` leaves it to paramiko."""
        start = msg.packet.tell()
        tag = msg.get_text()
        if tag == "limits@openssh.com":
            reply = Message()
            reply.add_int(request_number)
            for value in (MAX_PACKET, MAX_READ_WRITE, MAX_READ_WRITE, MAX_OPEN_HANDLES):
                reply.add_int64(value)
            self._send_packet(CMD_EXTENDED_REPLY, reply)  # type: ignore[attr-defined]
            return True
        if tag == "expand-path@openssh.com":
            path = self.server.canonicalize(msg.get_text())
            attrs = paramiko.SFTPAttributes()
            self._response(request_number, CMD_NAME, 1, path, "", attrs)  # type: ignore[attr-defined]
            return True
        msg.packet.seek(start)
        return False

    def _close(self, request_number: int, msg: Message) -> None:
        handle = msg.get_binary()
        if self.folder_table.pop(handle, None) is not None:
            self._send_status(request_number, SFTP_OK)
            return
        opened = self.file_table.pop(handle, None)
        if opened is None:
            self._send_status(request_number, SFTP_BAD_MESSAGE, "Invalid handle")
            return
        opened.close()  # raises SFTPStatusError when an upload fails: the client must know
        self._send_status(request_number, SFTP_OK)
