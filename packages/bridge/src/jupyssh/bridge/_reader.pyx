# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled PTY/pipe reader: ``_reader_py.Reader`` with the waits and reads done
without the GIL, so other kernel threads (and the other readers) run meanwhile.

Same API and semantics as the pure twin, which is the reference; the unit tests run both.
"""

from libc.errno cimport EAGAIN, EINTR, EIO, errno
from libc.stdlib cimport free, malloc
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read


cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    short POLLIN


IMPL = "compiled"


cdef double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class Reader:
    """Read coalesced chunks from a readable file descriptor (see ``_reader_py.Reader``)."""

    cdef readonly int fd
    cdef readonly Py_ssize_t max_chunk
    cdef readonly double window
    cdef public bint eof
    cdef char *_buf

    def __cinit__(self, int fd, Py_ssize_t max_chunk=65536, double window=0.002):
        if max_chunk <= 0:
            raise ValueError("max_chunk must be positive")
        if window < 0:
            raise ValueError("window must not be negative")
        self._buf = <char *>malloc(max_chunk)
        if self._buf == NULL:
            raise MemoryError()
        self.fd = fd
        self.max_chunk = max_chunk
        self.window = window
        self.eof = False

    def __dealloc__(self):
        free(self._buf)

    def read(self, timeout=None):
        """``None`` on timeout, ``b""`` at end of file, else 1 to ``max_chunk`` bytes."""
        if self.eof:
            return b""
        cdef pollfd pfd
        cdef Py_ssize_t size = 0
        cdef Py_ssize_t got
        cdef int ready
        cdef int wait_ms = -1 if timeout is None else max(0, <int>(timeout * 1000))
        cdef double deadline = -1.0
        cdef int failure = 0
        cdef bint at_eof = False
        pfd.fd = self.fd
        pfd.events = POLLIN
        with nogil:
            while size < self.max_chunk:
                if deadline >= 0:
                    wait_ms = <int>((deadline - _now()) * 1000 + 0.999)
                    if wait_ms < 0:
                        wait_ms = 0
                ready = poll(&pfd, 1, wait_ms)
                if ready < 0:
                    if errno == EINTR:
                        continue
                    failure = errno
                    break
                if ready == 0:
                    break
                got = read(self.fd, self._buf + size, self.max_chunk - size)
                if got < 0:
                    if errno == EINTR or errno == EAGAIN:
                        continue
                    if errno == EIO:
                        at_eof = True
                        break
                    failure = errno
                    break
                if got == 0:
                    at_eof = True
                    break
                size += got
                if deadline < 0:
                    if self.window == 0:
                        break
                    deadline = _now() + self.window
                elif _now() >= deadline:
                    break
        if at_eof:
            self.eof = True
        if failure and size == 0:
            raise OSError(failure, "read failed")
        if size:
            return self._buf[:size]
        return b"" if self.eof else None
