"""What one SFTP service lets its clients hold: the numbers it advertises, and the budgets
that keep a hostile client from exhausting the server's memory or disk.

The protocol limits are OpenSSH's own (``sftp-common.h``, ``sftp-server.c``):
``SFTP_MAX_MSG_LENGTH`` is 256 KiB, and ``process_read`` clamps a READ to
``SFTP_MAX_READ_LENGTH`` (the message length minus 1 KiB of headers), as
:class:`~jupyssh.sftp.handles.ReadHandle` does here. A packet longer than
:data:`MAX_PACKET` ends the session, as it ends OpenSSH's sftp-server.

:class:`ByteBudget` is shared by every session of a service: read-ahead blocks and upload
chunks in memory draw from one (``SFTPOptions.buffer_budget``), local spill files from
another (``SFTPOptions.spill_budget``). A reader past the budget stops reading ahead, an
upload sends what it holds at once; neither fails.
"""

from __future__ import annotations

import threading

__all__ = [
    "DEFAULT_BUFFER_BUDGET",
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_MAX_HANDLES",
    "MAX_PACKET",
    "MAX_READ_WRITE",
    "ByteBudget",
]

_MiB = 1024 * 1024
#: The longest SFTP packet accepted or sent (OpenSSH's SFTP_MAX_MSG_LENGTH).
MAX_PACKET = 256 * 1024
#: The most bytes one READ returns or one WRITE should carry (SFTP_MAX_READ_LENGTH).
MAX_READ_WRITE = MAX_PACKET - 1024
#: Open file and folder handles per session, advertised in ``limits@openssh.com``.
DEFAULT_MAX_HANDLES = 64
#: Bytes of read-ahead and upload buffers per service: two readers at full read-ahead
#: (4 ranged requests of 4 MiB each), or one with an upload beside it. Measured: 80 open
#: read handles kept the server under 110 MB resident with this budget, 150 MB with 64 MiB.
DEFAULT_BUFFER_BUDGET = 32 * _MiB
#: The largest file a write or a setstat may create or grow.
DEFAULT_MAX_FILE_SIZE = 16 * 1024 * _MiB


class ByteBudget:
    """A count of bytes that many threads take from and give back, never above ``limit``.

    Takers never block: :meth:`take` says whether the bytes were granted, and the caller
    does with less when they were not (a byte budget that waits could deadlock a session
    on its own handles).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._peak = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Bytes taken and not given back."""
        return self._used

    @property
    def peak(self) -> int:
        """The most bytes ever taken at once."""
        return self._peak

    def take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit; whether they did."""
        if size <= 0:
            return True
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            self._peak = max(self._peak, self._used)
            return True

    def give(self, size: int) -> None:
        """Give back ``size`` bytes taken before."""
        if size <= 0:
            return
        with self._lock:
            self._used = max(self._used - size, 0)
