"""The reference PTY/pipe reader, in pure Python (the Cython ``_reader.pyx`` mirrors it).

The bridge's agent runs one reader per output stream of a process in the kernel. A read
waits for the first byte, then keeps reading for a short *window* (or until ``max_chunk``
bytes), so a fast producer yields few large messages. A chunk still smaller than
*eager_below* bytes takes only what is already there: a keystroke's echo or a prompt
leaves at once instead of after the window. This module is also sent into kernels that
cannot load the compiled reader, so it depends on the standard library only.
"""

from __future__ import annotations

import errno
import os
import select
import time

__all__ = ["Reader"]

IMPL = "pure"


class Reader:
    """Read coalesced chunks from a readable file descriptor (a PTY master or a pipe).

    :param fd: the descriptor; the reader never closes it.
    :param max_chunk: the most bytes one :meth:`read` returns.
    :param window: seconds to keep gathering after the first byte (``0`` returns what
        the first ``read(2)`` gave).
    :param eager_below: a chunk smaller than this many bytes does not wait for more: it
        is returned once the descriptor has nothing more to read (``0``: always wait
        out the window).

    Called by the agent's reader threads, one thread per reader.
    """

    def __init__(
        self, fd: int, max_chunk: int = 65536, window: float = 0.002, eager_below: int = 0
    ) -> None:
        if max_chunk <= 0:
            raise ValueError("max_chunk must be positive")
        if window < 0:
            raise ValueError("window must not be negative")
        if eager_below < 0:
            raise ValueError("eager_below must not be negative")
        self.fd = fd
        self.max_chunk = max_chunk
        self.window = window
        self.eager_below = eager_below
        self.eof = False

    def read(self, timeout: float | None = None) -> bytes | None:  # noqa: PLR0912 - mirrors the C loop
        """The next chunk: ``None`` when nothing came within ``timeout`` seconds (``None``
        waits indefinitely), ``b""`` at end of file (for a PTY master: every slave end
        closed, read as ``EIO``), else 1 to ``max_chunk`` bytes."""
        if self.eof:
            return b""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        parts: list[bytes] = []
        size = 0
        deadline: float | None = None
        wait_ms = -1 if timeout is None else max(0, int(timeout * 1000))
        while size < self.max_chunk:
            if deadline is not None:
                if size < self.eager_below:
                    wait_ms = 0  # small so far: take only what is already there
                else:
                    wait_ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
            if not poller.poll(wait_ms):
                break  # first wait timed out, the window closed, or a small chunk is done
            try:
                data = os.read(self.fd, self.max_chunk - size)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:
                    if parts:
                        break  # return what came; the error shows again on the next read
                    raise
                data = b""
            if not data:
                self.eof = True
                break
            parts.append(data)
            size += len(data)
            if deadline is None:
                if self.window == 0:
                    break
                deadline = time.monotonic() + self.window
            elif time.monotonic() >= deadline:
                break
        if parts:
            return b"".join(parts)
        return b"" if self.eof else None
