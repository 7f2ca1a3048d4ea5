"""The SFTP subsystem: ``JupyterSFTPServer`` (paramiko's ``SFTPServer``, the protocol
engine, with the extensions OpenSSH needs, the limits it advertises, and messages on every
failure) and :func:`install`, which mounts it with a service on a transport.

paramiko (3.5 to 5.1) implements ``posix-rename@openssh.com`` but advertises only
``check-file`` in its VERSION reply, so OpenSSH's ``sftp`` never uses it and editors'
save-by-rename fails on an existing file. This subclass advertises:

- ``posix-rename@openssh.com`` (dispatched by paramiko to ``posix_rename``);
- ``limits@openssh.com``: OpenSSH then reads and writes up to 255 KiB per request instead
  of 32 KiB, eight times fewer round trips through paramiko's one-request-at-a-time loop.
  The open-handles figure (``SFTPOptions.max_handles``) is enforced: one more OPEN or
  OPENDIR fails. A packet longer than :data:`~jupyssh.sftp.limits.MAX_PACKET` ends the
  session, as in OpenSSH (paramiko alone reads up to 16 MiB);
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
    CMD_FSETSTAT,
    CMD_INIT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_NAMES,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_SETSTAT,
    CMD_VERSION,
    SFTP_BAD_MESSAGE,
    SFTP_EOF,
    SFTP_FAILURE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTPError,
)
from paramiko.sftp_attr import SFTPAttributes

from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.limits import MAX_PACKET, MAX_READ_WRITE
from jupyssh.sftp.service import SFTPService
from jupyssh.sftp.status import SFTPStatusError

__all__ = ["EXTENSIONS", "MAX_PACKET", "MAX_READ_WRITE", "JupyterSFTPServer", "install"]

_SFTP_VERSION = 3
#: (name, version) pairs of the VERSION reply.
EXTENSIONS = (
    ("posix-rename@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
)


def install(transport: paramiko.Transport, service: SFTPService, name: str = "sftp") -> None:
    """Serve ``service`` as ``transport``'s SFTP subsystem (call before the handshake, e.g.
    in ``SSHServer.on_transport``; the policy must allow ``name``)."""
    transport.set_subsystem_handler(name, JupyterSFTPServer, JupyterSFTPInterface, service)


class JupyterSFTPServer(paramiko.SFTPServer):
    """The SFTP subsystem handler; mount it with :func:`install`."""

    server: JupyterSFTPInterface

    def _read_packet(self) -> tuple[int, bytes]:
        """paramiko's, refusing a packet longer than OpenSSH accepts (ends the session)."""
        head = self._read_all(4)  # type: ignore[attr-defined]  # private, untyped
        size: int = struct.unpack(">I", head)[0]
        if size > MAX_PACKET:
            raise SFTPError(f"refused an SFTP packet of {size} bytes (the limit is {MAX_PACKET})")
        data: bytes = self._read_all(size) if size else b""  # type: ignore[attr-defined]
        if not data:
            return 0, b""
        return data[0], data[1:]

    def _send_server_version(self) -> int:
        """Answer INIT with version 3 and :data:`EXTENSIONS` (paramiko's lists check-file
        only; it waits for INIT first, as WinSCP needs)."""
        t, data = self._read_packet()
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
            if t not in CMD_NAMES:  # paramiko would raise KeyError naming it in its log
                self._send_status(request_number, SFTP_OP_UNSUPPORTED, f"unknown request {t}")
                return
            if not _attributes_fit(t, msg):
                self._send_status(request_number, SFTP_BAD_MESSAGE, "malformed attributes")
                return
            if t in {CMD_OPEN, CMD_OPENDIR} and self._handles_full():
                limit = self.server.service.options.max_handles
                message = f"too many open handles (the limit is {limit}); close some first"
                self._send_status(request_number, SFTP_FAILURE, message)
                return
            super()._process(t, request_number, msg)  # type: ignore[misc]
        except SFTPStatusError as exc:
            self._send_status(request_number, exc.code, exc.message)
        except UnicodeDecodeError:
            # paramiko decodes names as UTF-8 before our handlers see them; the Contents API
            # has no way to name a file whose name is other bytes.
            self._send_status(request_number, SFTP_BAD_MESSAGE, "file names must be UTF-8")

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
            handles = self.server.service.options.max_handles
            for value in (MAX_PACKET, MAX_READ_WRITE, MAX_READ_WRITE, handles):
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

    def _handles_full(self) -> bool:
        open_handles = len(self.file_table) + len(self.folder_table)
        return open_handles >= self.server.service.options.max_handles

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


#: Requests that carry attributes: how many strings (path or handle) and ints come first.
_ATTRIBUTES_AFTER = {CMD_OPEN: (1, 1), CMD_SETSTAT: (1, 0), CMD_FSETSTAT: (1, 0), CMD_MKDIR: (1, 0)}


def _attributes_fit(t: int, msg: Message) -> bool:
    """Whether the extended-attribute count of a request fits in the packet.

    paramiko reads ``count`` pairs of strings however few bytes follow (an exhausted
    message yields empty strings), so a count of 2**32 - 1 keeps a session thread busy
    for hours. Each pair takes at least 8 bytes; a count that claims more is refused."""
    layout = _ATTRIBUTES_AFTER.get(t)
    if layout is None:
        return True
    probe = Message(msg.asbytes())
    probe.packet.seek(msg.packet.tell())
    strings, ints = layout
    for _ in range(strings):
        probe.get_binary()
    for _ in range(ints):
        probe.get_int()
    flags = probe.get_int()
    if not flags & SFTPAttributes.FLAG_EXTENDED:
        return True
    if flags & SFTPAttributes.FLAG_SIZE:
        probe.get_int64()
    fields = (SFTPAttributes.FLAG_UIDGID, 2), (SFTPAttributes.FLAG_PERMISSIONS, 1)
    for flag, count in (*fields, (SFTPAttributes.FLAG_AMTIME, 2)):
        if flags & flag:
            for _ in range(count):
                probe.get_int()
    count = probe.get_int()
    return count * 8 <= len(probe.get_remainder())
