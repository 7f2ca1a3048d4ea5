"""Acceptance 3: random SFTP packets (paths, offsets, lengths, flags, attributes, garbage)
against the SFTP subsystem over a paramiko socket pair and the fake Contents API.

Whatever arrives, every request is answered, no exception escapes the request handlers,
no Contents API path leaves the root, and the memory held stays bounded. Example counts
are bounded so that the unit suite stays fast."""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import paramiko
from hypothesis import HealthCheck, Phase, given, settings
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
)

from jupyssh.core.jupyter import JupyterClient
from jupyssh.sftp import SFTPOptions, SFTPService
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.subsystem import JupyterSFTPServer

from .conftest import BASE, KIB, TOKEN, FakeContents, loopback

MEMORY_LIMIT = 24 * 1024 * KIB
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
    st.integers(0, 2**64 - 1),
)
_ATTRS = st.tuples(_U32, _U64, _U32, _U32, st.integers(0, 3))
_HANDLE = st.one_of(st.integers(0, 70), st.binary(max_size=8))
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


def _packet(request: tuple[Any, ...], number: int, handles: list[bytes]) -> tuple[int, Message]:
    kind, *args = request
    msg = Message()
    msg.add_int(number)
    if kind == -1:
        return args[0], Message(struct.pack(">I", number) + args[1])

    def handle(ref: int | bytes) -> bytes:
        if isinstance(ref, int):
            return handles[ref % len(handles)] if handles else b"none"
        return ref

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
    return data[4:] if reply_kind == CMD_HANDLE else b""


def _inside_root(fake: FakeContents, seen: int) -> None:
    for method, path, body in fake.requests[seen:]:
        segments = path.split("/")
        assert not {"..", "."} & set(segments), (method, path)
        assert not {"\x00", "\\"} & set(path), (method, path)
        if method == "PATCH" and body:
            target = str(body["path"]).split("/")
            assert not {"..", ""} & set(target), body


def _seed(fake: FakeContents) -> None:
    fake.files.clear()
    fake.dirs = {"", "d"}
    fake.requests.clear()
    fake.put_file("f", b"0123456789" * 10)
    fake.put_file("d/g", b"g" * (130 * KIB))


@contextlib.contextmanager
def _subsystem(fake: FakeContents, tmp: Path) -> Iterator[tuple[SFTPService, Any]]:
    client = JupyterClient(BASE, token=TOKEN, transport=httpx.MockTransport(_Recorded(fake)))
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
        yield service, sftp


class _Recorded:
    """The fake, which also refuses a URL path that is not ``/api/…`` or ``/files/…``."""

    def __init__(self, fake: FakeContents) -> None:
        self.fake = fake

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = unquote(urlsplit(str(request.url)).path)
        assert raw == "/api" or raw.startswith(("/api/contents", "/files/")), raw
        return self.fake(request)


def test_random_packets_are_answered_inside_the_root_in_bounded_memory(tmp_path, monkeypatch):
    fake = FakeContents()
    RecordingServer.escaped = []
    monkeypatch.setattr("jupyssh.sftp.subsystem.JupyterSFTPServer", RecordingServer)
    tracemalloc.start()
    try:
        with _subsystem(fake, tmp_path) as (service, sftp):
            handles: list[bytes] = []

            @settings(
                max_examples=60,
                deadline=None,
                # no shrinking: a request that hangs would make each shrink step wait for
                # REPLY_TIMEOUT; the failing example is shown as generated
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(st.lists(_REQUEST, min_size=1, max_size=12))
            def run(requests: list[tuple[Any, ...]]) -> None:
                _seed(fake)
                tracemalloc.reset_peak()
                base, _ = tracemalloc.get_traced_memory()
                for number, request in enumerate(requests, start=1):
                    kind, msg = _packet(request, number, handles)
                    handle = _exchange(sftp, kind, msg, number)
                    if handle:
                        handles.append(handle)
                _, peak = tracemalloc.get_traced_memory()
                assert peak - base < MEMORY_LIMIT
                assert RecordingServer.escaped == []
                _inside_root(fake, 0)
                assert service.buffers.used <= service.options.buffer_budget
                assert service.spills.used <= service.options.spill_budget

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
    with _subsystem(fake, tmp_path) as (_, sftp):
        kind, msg = _packet((CMD_STAT, "f"), 1, [])
        _exchange(sftp, kind, msg, 1)
    assert [str(exc) for exc in RecordingServer.escaped] == ["a bug"]


def test_a_name_that_is_not_utf8_is_a_bad_message(tmp_path: Path, monkeypatch: Any) -> None:
    """hypothesis found it: paramiko's UnicodeDecodeError escaped a MKDIR's handler."""
    RecordingServer.escaped = []
    monkeypatch.setattr("jupyssh.sftp.subsystem.JupyterSFTPServer", RecordingServer)
    with _subsystem(FakeContents(), tmp_path) as (_service, client):
        msg = Message()
        msg.add_int(7)
        msg.add_string(b"AE\xa7\xb8Hi")
        msg.add_int(0)  # no attributes
        client._send_packet(CMD_MKDIR, msg)
        kind, data = client._read_packet()
    assert kind == CMD_STATUS
    assert b"file names must be UTF-8" in data
    assert RecordingServer.escaped == []
