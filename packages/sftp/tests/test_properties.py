"""Acceptance 3: random SFTP packets (paths, offsets, lengths, flags, attributes, garbage)
against the SFTP subsystem over a paramiko socket pair and the fake Contents API.

Whatever arrives, every request is answered, no exception escapes the request handlers,
no Contents API path leaves the root, and the memory held stays bounded. Each example
first opens real handles (a read, an upload, an in-place write, a folder), so that the
handle requests' random offsets, lengths and attributes reach jupyssh's handlers, not only
paramiko's handle check. Example counts are bounded so that the unit suite stays fast."""

from __future__ import annotations

import contextlib
import itertools
import struct
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import paramiko
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from paramiko.message import Message
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_HANDLE,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_READLINK,
    CMD_REALPATH,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_RMDIR,
    CMD_SETSTAT,
    CMD_STAT,
    CMD_STATUS,
    CMD_SYMLINK,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
)

from jupyssh.core.jupyter import JupyterClient
from jupyssh.sftp import SFTPOptions, SFTPService
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.subsystem import JupyterSFTPServer

from .conftest import BASE, KIB, TOKEN, FakeContents, loopback

#: What one example may add at its peak, the fake server's new files included (up to
#: max_file_size, 1 MiB, each): the peaks seen stay under 5 MiB.
MEMORY_LIMIT = 24 * 1024 * KIB
#: Larger than one READ may return (MAX_READ_WRITE): a READ of all of it, were it not
#: clamped, adds some 44 MB (test_the_memory_bound_sees_an_unclamped_read).
BIG = 8 * 1024 * KIB
REPLY_TIMEOUT = 30.0

_PATHS = st.one_of(
    st.sampled_from(
        [
            "",
            "/",
            ".",
            "..",
            "../x",
            "/a/../..",
            "~",
            "~/f",
            "~root/x",
            "a\x00b",
            "a\\b",
            "f",
            "/f",
            "d",
            "d/",
            "d/g",
            "d/../f",
            ".hidden",
            "d/.h",
            "x\ny",
            "%2e%2e/f",
            "/" * 300,
            "d/" * 50 + "f",
            "f.jupyssh-0.part",
            "ü/é",
            "new",
            "d/new",
        ]
    ),
    st.text(st.sampled_from("ad./~\\x\x00\n%ü"), max_size=12),
)
_U32 = st.one_of(st.sampled_from([0, 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
_U64 = st.one_of(
    st.sampled_from([0, 1, 100, 64 * KIB, 1024 * KIB, 2**40, 2**63, 2**64 - 1]),
    st.integers(0, 256 * KIB),  # within the files, or just past them
    st.integers(0, 2**64 - 1),
)
_ATTRS = st.tuples(_U32, _U64, _U32, _U32, st.integers(0, 3))
#: mostly an index in the handles open, else random bytes (refused by paramiko itself)
_HANDLE = st.integers(0, 12).flatmap(lambda n: st.just(n) if n < 10 else st.binary(max_size=8))
_EXTENSIONS = st.sampled_from(
    [
        "posix-rename@openssh.com",
        "limits@openssh.com",
        "expand-path@openssh.com",
        "check-file",
        "hardlink@openssh.com",
        "statvfs@openssh.com",
        "x",
    ]
)

_REQUEST = st.one_of(
    st.tuples(st.just(CMD_OPEN), _PATHS, _U32, _ATTRS),
    st.tuples(st.just(CMD_READ), _HANDLE, _U64, _U32),
    st.tuples(st.just(CMD_WRITE), _HANDLE, _U64, st.integers(0, 64 * KIB)),
    st.tuples(st.just(CMD_CLOSE), _HANDLE),
    st.tuples(st.just(CMD_FSTAT), _HANDLE),
    st.tuples(st.just(CMD_FSETSTAT), _HANDLE, _ATTRS),
    st.tuples(st.sampled_from([CMD_SETSTAT, CMD_MKDIR]), _PATHS, _ATTRS),
    st.tuples(st.sampled_from([CMD_STAT, CMD_LSTAT, CMD_OPENDIR, CMD_REMOVE, CMD_RMDIR]), _PATHS),
    st.tuples(st.sampled_from([CMD_REALPATH, CMD_READLINK]), _PATHS),
    st.tuples(st.just(CMD_READDIR), _HANDLE),
    st.tuples(st.sampled_from([CMD_RENAME, CMD_SYMLINK]), _PATHS, _PATHS),
    st.tuples(st.just(CMD_EXTENDED), _EXTENSIONS, _PATHS, _PATHS),
    st.tuples(st.just(-1), st.integers(0, 255), st.binary(max_size=64)),  # garbage
)


class RecordingServer(JupyterSFTPServer):
    """The subsystem, noting every exception that escapes a request handler."""

    escaped: list[BaseException] = []  # noqa: RUF012 - one list per test, reset there

    def _process(self, t: int, request_number: int, msg: Message) -> None:
        try:
            super()._process(t, request_number, msg)
        except Exception as exc:
            RecordingServer.escaped.append(exc)
            raise


def _attrs(msg: Message, fields: tuple[int, int, int, int, int]) -> None:
    flags, size, mode, time, extended = fields
    msg.add_int(flags)
    if flags & paramiko.SFTPAttributes.FLAG_SIZE:
        msg.add_int64(size)
    if flags & paramiko.SFTPAttributes.FLAG_UIDGID:
        msg.add_int(mode)
        msg.add_int(mode)
    if flags & paramiko.SFTPAttributes.FLAG_PERMISSIONS:
        msg.add_int(mode)
    if flags & paramiko.SFTPAttributes.FLAG_AMTIME:
        msg.add_int(time)
        msg.add_int(time)
    if flags & paramiko.SFTPAttributes.FLAG_EXTENDED:
        msg.add_int(extended if extended < 3 else 2**32 - 1)  # a count it does not send
        for n in range(min(extended, 2)):
            msg.add_string(f"k{n}")
            msg.add_string("v")


@dataclass
class _Open:
    """The handles one example holds open. A request's handle that is an index picks one of
    the kind it needs (a folder's for READDIR, a file's for the others), so that the random
    offsets, lengths and attributes reach the handlers behind paramiko's handle check."""

    files: list[bytes] = field(default_factory=list)
    folders: list[bytes] = field(default_factory=list)

    def pick(self, kind: int, ref: int | bytes) -> bytes:
        if isinstance(ref, bytes):
            return ref
        pools = {CMD_READDIR: self.folders, CMD_CLOSE: self.files + self.folders}
        pool = pools.get(kind, self.files)
        return pool[ref % len(pool)] if pool else b"none"

    def opened(self, kind: int, handle: bytes) -> None:
        (self.folders if kind == CMD_OPENDIR else self.files).append(handle)

    def closed(self, handle: bytes) -> None:
        for pool in (self.files, self.folders):
            if handle in pool:
                pool.remove(handle)


def _packet(request: tuple[Any, ...], number: int, handles: _Open) -> tuple[int, Message]:
    kind, *args = request
    msg = Message()
    msg.add_int(number)
    if kind == -1:
        return args[0], Message(struct.pack(">I", number) + args[1])

    def handle(ref: int | bytes) -> bytes:
        return handles.pick(kind, ref)

    if kind == CMD_OPEN:
        msg.add_string(args[0])
        msg.add_int(args[1])
        _attrs(msg, args[2])
    elif kind == CMD_READ:
        msg.add_string(handle(args[0]))
        msg.add_int64(args[1])
        msg.add_int(args[2])
    elif kind == CMD_WRITE:
        msg.add_string(handle(args[0]))
        msg.add_int64(args[1])
        msg.add_string(b"w" * args[2])
    elif kind in {CMD_CLOSE, CMD_FSTAT, CMD_READDIR}:
        msg.add_string(handle(args[0]))
    elif kind == CMD_FSETSTAT:
        msg.add_string(handle(args[0]))
        _attrs(msg, args[1])
    elif kind in {CMD_SETSTAT, CMD_MKDIR}:
        msg.add_string(args[0])
        _attrs(msg, args[1])
    elif kind == CMD_EXTENDED:
        for text in args:
            msg.add_string(text)
    else:
        for text in args:
            msg.add_string(text)
    return kind, msg


def _exchange(client: paramiko.SFTPClient, kind: int, msg: Message, number: int) -> bytes:
    """Send one packet and return its reply, which must answer it."""
    client._send_packet(kind, msg)  # type: ignore[attr-defined]
    reply_kind, data = client._read_packet()  # type: ignore[attr-defined]
    assert struct.unpack(">I", data[:4])[0] == number, (reply_kind, data[:40])
    # the handle itself, without its length: sent back as is, it would be another handle
    return Message(data[4:]).get_binary() if reply_kind == CMD_HANDLE else b""


def _inside_root(fake: FakeContents, recorded: _Recorded) -> None:
    assert recorded.outside == []
    for method, path, body in fake.requests:
        segments = path.split("/")
        assert not {"..", "."} & set(segments), (method, path)
        assert not {"\x00", "\\"} & set(path), (method, path)
        if method == "PATCH" and body:
            target = str(body["path"]).split("/")
            assert not {"..", ""} & set(target), body


#: Opened before each example's random requests: a read, an upload, an in-place write and
#: a folder for the handle requests to use.
_FIXED_OPENS = [
    (CMD_OPEN, "f", SFTP_FLAG_READ, (0, 0, 0, 0, 0)),
    (CMD_OPEN, "d/g", SFTP_FLAG_READ, (0, 0, 0, 0, 0)),
    (CMD_OPEN, "big", SFTP_FLAG_READ, (0, 0, 0, 0, 0)),
    (CMD_OPEN, "new", SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC, (0, 0, 0, 0, 0)),
    (CMD_OPEN, "f", SFTP_FLAG_READ | SFTP_FLAG_WRITE, (0, 0, 0, 0, 0)),
    (CMD_OPENDIR, "d"),
]


def _open_handles(client: paramiko.SFTPClient) -> _Open:
    handles = _Open()
    for number, request in enumerate(_FIXED_OPENS, start=1):
        handle = _exchange(client, *_packet(request, number, handles), number)
        assert handle, request
        handles.opened(request[0], handle)
    return handles


def _seed(fake: FakeContents) -> None:
    fake.files.clear()
    fake.dirs = {"", "d"}
    fake.requests.clear()
    fake.put_file("f", b"0123456789" * 10)
    fake.put_file("d/g", b"g" * (130 * KIB))
    fake.put_file("big", b"b" * BIG)


@contextlib.contextmanager
def _subsystem(fake: FakeContents, tmp: Path) -> Iterator[tuple[SFTPService, Any, _Recorded]]:
    recorded = _Recorded(fake)
    client = JupyterClient(BASE, token=TOKEN, transport=httpx.MockTransport(recorded))
    options = SFTPOptions(
        chunk_size=64 * KIB,
        read_block=64 * KIB,
        read_ahead=2,
        max_file_size=1024 * KIB,
        buffer_budget=512 * KIB,
        spill_budget=4096 * KIB,
        call_timeout=REPLY_TIMEOUT,
    )
    with SFTPService(client, options) as service, loopback(service, tmp / "key") as sftp:
        channel = sftp.get_channel()
        assert channel is not None
        channel.settimeout(REPLY_TIMEOUT)
        yield service, sftp, recorded


class _Recorded:
    """The fake, noting every URL path outside ``/api``, ``/api/contents/…`` and
    ``/files/…``. httpx removes dot segments, so a ``..`` let through shows here, as such a
    path, not in the fake's requests; it is noted, not raised, as an exception raised here
    would be answered as a failed request and never seen by the test."""

    def __init__(self, fake: FakeContents) -> None:
        self.fake = fake
        self.outside: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = unquote(urlsplit(str(request.url)).path)
        if raw in {"/api", "/api/contents"} or raw.startswith(("/api/contents/", "/files/")):
            return self.fake(request)
        self.outside.append(raw)
        return httpx.Response(404, json={"message": "Not Found"})


def _one_example(
    fake: FakeContents, service: SFTPService, sftp: paramiko.SFTPClient, requests: list[Any]
) -> int:
    """Send ``requests`` between the fixed opens and the closing of every handle left open;
    the memory traced at the peak, over what it was before (tracemalloc must be on)."""
    _seed(fake)
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    handles = _open_handles(sftp)
    numbers = itertools.count(len(_FIXED_OPENS) + 1)
    for request in requests:
        number = next(numbers)
        kind, msg = _packet(request, number, handles)
        handle = _exchange(sftp, kind, msg, number)
        if handle:
            handles.opened(kind, handle)
        elif kind == CMD_CLOSE:
            handles.closed(handles.pick(kind, request[1]))
    assert service.buffers.used <= service.options.buffer_budget
    assert service.spills.used <= service.options.spill_budget
    for handle in handles.files + handles.folders:
        number = next(numbers)
        _exchange(sftp, *_packet((CMD_CLOSE, handle), number, handles), number)
    # every handle closed: nothing of what they held is left
    assert (service.buffers.used, service.spills.used) == (0, 0)
    _, peak = tracemalloc.get_traced_memory()
    return peak - base


def test_random_packets_are_answered_inside_the_root_in_bounded_memory(tmp_path, monkeypatch):
    fake = FakeContents()
    RecordingServer.escaped = []
    monkeypatch.setattr("jupyssh.sftp.subsystem.JupyterSFTPServer", RecordingServer)
    tracemalloc.start()
    try:
        with _subsystem(fake, tmp_path) as (service, sftp, recorded):

            @settings(
                max_examples=60,
                deadline=None,
                # no shrinking: a request that hangs would make each shrink step wait for
                # REPLY_TIMEOUT; the failing example is shown as generated
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            # the audit's findings 6, 7 and 8, each time: a READ of all of "big", a write and
            # a size at 1 TiB on the upload, an out-of-order write in place (a spill copy)
            @example([(CMD_READ, 2, 0, 2**32 - 1)])
            @example([(CMD_WRITE, 3, 2**40, 1), (CMD_FSETSTAT, 3, (1, 2**40, 0, 0, 0))])
            @example([(CMD_WRITE, 4, 50, 100), (CMD_READ, 4, 0, 2**32 - 1)])
            @given(st.lists(_REQUEST, min_size=1, max_size=12))
            def run(requests: list[tuple[Any, ...]]) -> None:
                assert _one_example(fake, service, sftp, requests) < MEMORY_LIMIT
                assert RecordingServer.escaped == []
                _inside_root(fake, recorded)

            run()
    finally:
        tracemalloc.stop()
    assert RecordingServer.escaped == []


def test_the_recording_server_sees_what_escapes(tmp_path, monkeypatch):
    """The property above would notice an escaping exception (a test that can fail)."""
    fake = FakeContents()
    RecordingServer.escaped = []
    monkeypatch.setattr("jupyssh.sftp.subsystem.JupyterSFTPServer", RecordingServer)

    def broken(self: JupyterSFTPInterface, path: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(JupyterSFTPInterface, "stat", broken)
    with _subsystem(fake, tmp_path) as (_, sftp, _recorded):
        kind, msg = _packet((CMD_STAT, "f"), 1, _Open())
        _exchange(sftp, kind, msg, 1)
    assert [str(exc) for exc in RecordingServer.escaped] == ["a bug"]


def test_the_memory_bound_sees_an_unclamped_read(tmp_path, monkeypatch):
    """The property's memory bound would notice a READ that is not clamped (security
    finding 6): one READ of all of "big" then holds several copies of it."""
    monkeypatch.setattr("jupyssh.sftp.handles.MAX_READ_WRITE", 2**32)
    fake = FakeContents()
    tracemalloc.start()
    try:
        with _subsystem(fake, tmp_path) as (service, sftp, _recorded):
            small = _one_example(fake, service, sftp, [(CMD_READ, 2, 0, 100)])
            whole = _one_example(fake, service, sftp, [(CMD_READ, 2, 0, 2**32 - 1)])
    finally:
        tracemalloc.stop()
    assert small < MEMORY_LIMIT < whole


def test_the_root_check_sees_a_path_outside():
    """The property's root check would notice a request outside the Contents API (httpx
    removes a ``..`` from the URL, so it shows as such a path) or a rename's target with
    ``..`` in its JSON body."""
    fake = FakeContents()
    recorded = _Recorded(fake)
    with httpx.Client(transport=httpx.MockTransport(recorded)) as client:
        assert client.get(f"{BASE}api/contents/../../etc/passwd").status_code == 404
        assert client.get(f"{BASE}files/../api/status").status_code == 404
    assert recorded.outside == ["/etc/passwd", "/api/status"]
    with pytest.raises(AssertionError):
        _inside_root(fake, recorded)
    recorded.outside.clear()
    _inside_root(fake, recorded)
    fake.requests.append(("PATCH", "f", {"path": "../f"}))
    with pytest.raises(AssertionError):
        _inside_root(fake, recorded)


def test_a_name_that_is_not_utf8_is_a_bad_message(tmp_path: Path, monkeypatch: Any) -> None:
    """hypothesis found it: paramiko's UnicodeDecodeError escaped a MKDIR's handler."""
    RecordingServer.escaped = []
    monkeypatch.setattr("jupyssh.sftp.subsystem.JupyterSFTPServer", RecordingServer)
    with _subsystem(FakeContents(), tmp_path) as (_service, client, _recorded):
        msg = Message()
        msg.add_int(7)
        msg.add_string(b"AE\xa7\xb8Hi")
        msg.add_int(0)  # no attributes
        client._send_packet(CMD_MKDIR, msg)
        kind, data = client._read_packet()
    assert kind == CMD_STATUS
    assert b"file names must be UTF-8" in data
    assert RecordingServer.escaped == []
