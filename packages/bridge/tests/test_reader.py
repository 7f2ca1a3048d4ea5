"""The PTY/pipe reader: the same tests against the pure twin and the compiled module."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import pty
import subprocess
import sys
import threading
import time
from typing import Any

import pytest


@pytest.fixture
def pipe() -> Any:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_impl_names(reader_module: Any) -> None:
    assert reader_module.IMPL in {"pure", "compiled"}
    assert reader_module.Reader.__module__.endswith(("_reader", "_reader_py"))


def test_timeout_returns_none(reader_module: Any, pipe: tuple[int, int]) -> None:
    reader = reader_module.Reader(pipe[0])
    started = time.monotonic()
    assert reader.read(0.05) is None
    assert 0.04 <= time.monotonic() - started < 1.0


def test_reads_what_was_written(reader_module: Any, pipe: tuple[int, int]) -> None:
    os.write(pipe[1], b"hello\x00\xff")
    assert reader_module.Reader(pipe[0], window=0).read(1.0) == b"hello\x00\xff"


def test_eof_after_the_last_bytes(reader_module: Any, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"tail")
    os.close(w)
    reader = reader_module.Reader(r)
    assert reader.read(1.0) == b"tail"
    assert reader.read(1.0) == b""
    assert reader.eof
    assert reader.read(None) == b""


def test_max_chunk_bounds_every_read(reader_module: Any, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"x" * 10_000)
    reader = reader_module.Reader(r, max_chunk=4096, window=0.05)
    sizes = [len(reader.read(1.0) or b"") for _ in range(3)]
    assert sizes == [4096, 4096, 10_000 - 8192]


def test_coalesces_writes_within_the_window(reader_module: Any, pipe: tuple[int, int]) -> None:
    r, w = pipe

    def writer() -> None:
        for _ in range(5):
            os.write(w, b"ab")
            time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    # the chunk fills before the (long) window closes: no dependence on scheduling
    chunk = reader_module.Reader(r, max_chunk=10, window=30.0).read(30.0)
    thread.join()
    assert chunk == b"ab" * 5


def test_a_small_chunk_leaves_once_the_descriptor_is_drained(
    reader_module: Any, pipe: tuple[int, int]
) -> None:
    """A keystroke's echo does not wait out the window: with ``eager_below`` a small
    chunk is returned as soon as nothing more is there to read."""
    r, w = pipe
    os.write(w, b"k")
    reader = reader_module.Reader(r, window=30.0, eager_below=1024)
    started = time.monotonic()
    assert reader.read(1.0) == b"k"
    assert time.monotonic() - started < 5.0  # not the 30 s window


def test_a_small_chunk_takes_what_is_already_there(
    reader_module: Any, pipe: tuple[int, int]
) -> None:
    r, w = pipe
    os.write(w, b"prompt$ ")
    os.write(w, b"more")
    assert reader_module.Reader(r, window=30.0, eager_below=1024).read(1.0) == b"prompt$ more"


def test_a_large_chunk_still_gathers_for_the_window(
    reader_module: Any, pipe: tuple[int, int]
) -> None:
    r, w = pipe
    os.write(w, b"x" * 2048)

    def later() -> None:
        time.sleep(0.05)
        os.write(w, b"y" * 2048)

    thread = threading.Thread(target=later)
    thread.start()
    # bulk output (at least eager_below bytes) keeps gathering until max_chunk: the
    # long window makes the outcome independent of scheduling
    chunk = reader_module.Reader(r, max_chunk=4096, window=30.0, eager_below=1024).read(30.0)
    thread.join()
    assert chunk == b"x" * 2048 + b"y" * 2048


def test_window_zero_returns_the_first_read(reader_module: Any, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"one")
    reader = reader_module.Reader(r, window=0)
    assert reader.read(1.0) == b"one"
    assert reader.read(0.01) is None


def test_pty_master_reads_eio_as_eof(reader_module: Any) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "print('from the pty')"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        proc.wait(timeout=30)
        reader = reader_module.Reader(master)
        data = b""
        for _ in range(100):  # bounded: EOF (EIO) comes once the child is gone
            chunk = reader.read(1.0)
            if chunk == b"":
                break
            data += chunk or b""
        assert reader.eof
        assert data.replace(b"\r\n", b"\n") == b"from the pty\n"
    finally:
        os.close(master)


def test_waiting_does_not_hold_the_gil(reader_module: Any, pipe: tuple[int, int]) -> None:
    """Another thread keeps running while a read waits (both twins wait in poll)."""
    reader = reader_module.Reader(pipe[0])
    counter = [0]
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            counter[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        assert reader.read(0.2) is None
    finally:
        done.set()
        thread.join()
    assert counter[0] > 1000


@pytest.mark.parametrize(
    ("max_chunk", "window", "eager_below"), [(0, 0.0, 0), (10, -1.0, 0), (10, 0.0, -1)]
)
def test_bad_arguments(reader_module: Any, max_chunk: int, window: float, eager_below: int) -> None:
    with pytest.raises(ValueError, match="must"):
        reader_module.Reader(0, max_chunk=max_chunk, window=window, eager_below=eager_below)


def test_a_bad_descriptor_raises(reader_module: Any) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    reader = reader_module.Reader(r)
    with pytest.raises(OSError, match=r"Errno 9") as caught:
        reader.read(0.1)
    assert caught.value.errno == errno.EBADF


def test_impl_selection() -> None:
    code = "from jupyssh.bridge import reader; print(reader.__impl__)"
    pure = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, JUPYSSH_NO_EXTENSIONS="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert pure.stdout.strip() == "pure"
    default = subprocess.run(
        [sys.executable, "-c", code],
        env={k: v for k, v in os.environ.items() if k != "JUPYSSH_NO_EXTENSIONS"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    try:
        importlib.import_module("jupyssh.bridge._reader")
    except ImportError:
        expected = "pure"
    else:
        expected = "compiled"
    assert default.stdout.strip() == expected


@pytest.mark.parametrize("max_chunk", [1, 7, 4096, 65536, 1 << 20])
def test_a_stream_arrives_whole_and_in_order(reader_module: Any, max_chunk: int) -> None:
    """Every chunk size, every shrink of the returned buffer: the bytes that come out
    are the bytes that went in (the compiled twin reads into the object it returns)."""
    r, w = os.pipe()
    data = os.urandom(300_000 if max_chunk > 1 else 3_000)

    def writer() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(w, view[:5000]) :]
        os.close(w)

    thread = threading.Thread(target=writer)
    thread.start()
    reader = reader_module.Reader(r, max_chunk=max_chunk, window=0.001, eager_below=512)
    received = bytearray()
    try:
        for _ in range(len(data) + 10):  # bounded: at least one byte per read until EOF
            chunk = reader.read(10.0)
            assert chunk is not None, "the writer stalled"
            assert len(chunk) <= max_chunk
            if not chunk:
                break
            received += chunk
    finally:
        thread.join()
        os.close(r)
    assert bytes(received) == data
