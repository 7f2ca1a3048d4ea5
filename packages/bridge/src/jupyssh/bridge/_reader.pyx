# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled PTY/pipe reader: ``_reader_py.Reader`` with the waits and reads done
without the GIL, so other kernel threads (and the other readers) run meanwhile.

Same API and semantics as the pure twin, which is the reference; the unit tests run both.
Where it differs is cost: it reads straight into the bytes object it returns (one copy,
the kernel's, instead of a bytes object per ``read(2)`` joined into another), and its
loop runs no Python code between system calls.
"""

from cpython.object cimport PyObject
from libc.errno cimport EAGAIN, EINTR, EIO, errno
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read


cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    short POLLIN


cdef extern from "Python.h":
    # Declared with PyObject* so that Cython leaves the reference counts to us: the
    # object must have exactly one reference for _PyBytes_Resize to shrink it in place.
    PyObject *PyBytes_FromStringAndSize(const char *v, Py_ssize_t size) except NULL
    char *PyBytes_AS_STRING(PyObject *o)
    int _PyBytes_Resize(PyObject **pv, Py_ssize_t newsize) except -1
    void Py_DECREF(PyObject *o)


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
    cdef readonly Py_ssize_t eager_below
    cdef public bint eof

    def __cinit__(
        self, int fd, Py_ssize_t max_chunk=65536, double window=0.002, Py_ssize_t eager_below=0
    ):
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
        cdef PyObject *chunk = PyBytes_FromStringAndSize(NULL, self.max_chunk)
        cdef char *buf = PyBytes_AS_STRING(chunk)
        pfd.fd = self.fd
        pfd.events = POLLIN
        with nogil:
            while size < self.max_chunk:
                if deadline >= 0:
                    if size < self.eager_below:
                        wait_ms = 0  # small so far: take only what is already there
                    else:
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
                got = read(self.fd, buf + size, self.max_chunk - size)
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
        if size == 0:
            Py_DECREF(chunk)
            if failure:
                raise OSError(failure, "read failed")
            return b"" if self.eof else None
        if size < self.max_chunk:
            _PyBytes_Resize(&chunk, size)  # in place: no copy (on failure, chunk is freed)
        result = <object>chunk  # a new reference ...
        Py_DECREF(chunk)  # ... replacing ours
        return result
