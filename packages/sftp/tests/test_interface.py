"""JupyterSFTPInterface and its handles against the fake Contents API (no network)."""

from __future__ import annotations

import os
import stat

import httpx
import pytest
from paramiko import SFTPAttributes, SFTPHandle
from paramiko.sftp import (
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)

from jupyssh.sftp.handles import ReadHandle, WriteHandle
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.status import SFTPStatusError

from .conftest import KIB, FakeContents

WRITE_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
WRITE_INPLACE = os.O_WRONLY | os.O_CREAT  # scp >= 9.1


def _open(sftp: JupyterSFTPInterface, path: str, flags: int) -> SFTPHandle:
    handle = sftp.open(path, flags, SFTPAttributes())
    assert isinstance(handle, SFTPHandle), sftp.last_error
    return handle


def _write_all(handle: SFTPHandle, data: bytes, piece: int = 32 * KIB, start: int = 0) -> None:
    for offset in range(0, len(data), piece):
        assert handle.write(start + offset, data[offset : offset + piece]) == SFTP_OK


def _temps(fake: FakeContents) -> list[str]:
    return [name for name in fake.names() if ".jupyssh-" in name]


def test_streamed_upload_goes_in_numbered_chunks_then_renames(sftp, fake):
    data = os.urandom(300 * KIB + 7)
    handle = _open(sftp, "up.bin", WRITE_NEW)
    _write_all(handle, data)
    assert "up.bin" not in fake.files  # nothing in place before close
    handle.close()
    assert bytes(fake.files["up.bin"]) == data
    assert fake.chunks_sent() == [1, 2, 3, 4, -1]
    assert _temps(fake) == []


def test_zero_length_file_is_a_single_save(sftp, fake):
    handle = _open(sftp, "empty", WRITE_NEW)
    handle.close()
    assert fake.files["empty"] == b""
    assert fake.chunks_sent() == [None]


def test_out_of_order_writes_spill_and_come_out_right(sftp, fake):
    data = os.urandom(200 * KIB)
    handle = _open(sftp, "scattered.bin", WRITE_NEW)
    _write_all(handle, data[: 100 * KIB])  # streamed first: one chunk reaches the server
    pieces = [(o, data[o : o + 10 * KIB]) for o in range(100 * KIB, 200 * KIB, 10 * KIB)]
    for offset, piece in reversed(pieces):
        assert handle.write(offset, piece) == SFTP_OK
    handle.close()
    assert bytes(fake.files["scattered.bin"]) == data
    assert _temps(fake) == []


def test_overwrite_without_truncate_keeps_the_old_tail_unless_the_size_is_set(sftp, fake):
    old = os.urandom(250 * KIB)
    new = os.urandom(70 * KIB)
    fake.put_file("keep.bin", old)
    handle = _open(sftp, "keep.bin", WRITE_INPLACE)
    _write_all(handle, new)
    handle.close()
    assert bytes(fake.files["keep.bin"]) == new + old[len(new) :]  # POSIX: no truncation

    fake.put_file("cut.bin", old)
    handle = _open(sftp, "cut.bin", WRITE_INPLACE)
    _write_all(handle, new)
    size = SFTPAttributes()
    size.st_size = len(new)
    assert handle.chattr(size) == SFTP_OK  # what scp >= 9.1 does after the data
    handle.close()
    assert bytes(fake.files["cut.bin"]) == new


def test_fsetstat_can_also_extend_and_cut_below_what_was_written(sftp, fake):
    handle = _open(sftp, "sized.bin", WRITE_NEW)
    _write_all(handle, b"a" * 100)
    attrs = SFTPAttributes()
    attrs.st_size = 40
    assert handle.chattr(attrs) == SFTP_OK
    attrs.st_size = 60
    assert handle.chattr(attrs) == SFTP_OK
    handle.close()
    assert bytes(fake.files["sized.bin"]) == b"a" * 40 + b"\0" * 20


def test_reput_resumes_at_the_old_size(sftp, fake):
    fake.put_file("resume.bin", b"first half,")
    handle = _open(sftp, "resume.bin", os.O_WRONLY)
    assert handle.write(11, b"second half") == SFTP_OK
    handle.close()
    assert fake.files["resume.bin"] == b"first half,second half"


def test_append_mode_appends(sftp, fake):
    fake.put_file("log.txt", b"one\n")
    handle = _open(sftp, "log.txt", os.O_WRONLY | os.O_APPEND)
    assert handle.write(0, b"two\n") == SFTP_OK
    handle.close()
    assert fake.files["log.txt"] == b"one\ntwo\n"


def test_abandoned_upload_leaves_the_old_file_and_no_temp(sftp, fake):
    fake.put_file("precious.bin", b"old")
    handle = _open(sftp, "precious.bin", WRITE_NEW)
    _write_all(handle, os.urandom(200 * KIB))
    assert _temps(fake)  # chunks reached the temporary file
    sftp.session_ended()  # the channel went away
    handle.close()  # paramiko closes every handle afterwards: must not commit
    assert fake.files["precious.bin"] == b"old"
    assert _temps(fake) == []


def test_failed_commit_makes_close_raise_and_cleans_up(sftp, fake):
    fake.put_file("target.bin", b"old")
    handle = _open(sftp, "target.bin", WRITE_NEW)
    _write_all(handle, b"new")
    fake.fail_next[("PATCH", "target.bin")] = 500  # moving the old file aside fails
    with pytest.raises(SFTPStatusError) as caught:
        handle.close()
    assert caught.value.code == SFTP_FAILURE
    assert "forced 500" in caught.value.message
    assert fake.files["target.bin"] == b"old"
    assert _temps(fake) == []


def test_upload_whose_size_on_the_server_differs_fails(sftp, fake, monkeypatch):
    handle = _open(sftp, "short.bin", WRITE_NEW)
    _write_all(handle, os.urandom(150 * KIB))
    original = fake._put

    def lossy(path, body):  # a contents manager that overwrites on every chunk
        body = {**body, "chunk": None}
        return original(path, body)

    monkeypatch.setattr(fake, "_put", lossy)
    with pytest.raises(SFTPStatusError, match="stored"):
        handle.close()
    assert "short.bin" not in fake.files
    assert _temps(fake) == []


def test_reads_cross_blocks_and_end_with_eof(sftp, fake):
    data = os.urandom(150 * KIB + 3)
    fake.put_file("dl.bin", data)
    handle = _open(sftp, "dl.bin", os.O_RDONLY)
    assert isinstance(handle, ReadHandle)
    out = bytearray()
    offset = 0
    while chunk := handle.read(offset, 48 * KIB):
        assert isinstance(chunk, bytes)
        out += chunk
        offset += len(chunk)
    assert bytes(out) == data
    assert handle.read(10 * len(data), 10) == b""
    assert handle.read(64 * KIB - 5, 10) == data[64 * KIB - 5 : 64 * KIB + 5]  # jump back
    handle.close()


def test_open_read_of_missing_or_folder(sftp, fake):
    assert sftp.open("nope", os.O_RDONLY, SFTPAttributes()) == SFTP_NO_SUCH_FILE
    fake.dirs.add("d")
    assert sftp.open("d", os.O_RDONLY, SFTPAttributes()) == SFTP_FAILURE
    assert "is a directory" in (sftp.last_error or "")
    assert sftp.open("missing/x", WRITE_NEW, SFTPAttributes()) == SFTP_NO_SUCH_FILE


def test_exclusive_create_of_an_existing_file_fails(sftp, fake):
    fake.put_file("x", b"1")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    assert sftp.open("x", flags, SFTPAttributes()) == SFTP_FAILURE


def test_stat_and_listing_map_the_models(sftp, fake):
    fake.dirs.add("d")
    fake.put_file("d/a.bin", b"12345")
    fake.put_file("d/.hidden", b"")
    attrs = sftp.stat("/d/a.bin")
    assert isinstance(attrs, SFTPAttributes)
    assert attrs.st_size == 5
    assert stat.S_ISREG(attrs.st_mode or 0)
    assert attrs.st_mtime == 1704164645
    folder = sftp.stat("d")
    assert isinstance(folder, SFTPAttributes)
    assert stat.S_ISDIR(folder.st_mode or 0)
    listing = sftp.list_folder("/d")
    assert isinstance(listing, list)
    assert [a.filename for a in listing] == ["a.bin"]
    assert sftp.lstat("~/d/a.bin").st_size == 5  # type: ignore[union-attr]


def test_remove_rmdir_mkdir_rules(sftp, fake):
    fake.dirs.update({"full", "empty"})
    fake.put_file("full/f", b"x")
    assert sftp.remove("full") == SFTP_FAILURE
    assert "rmdir" in (sftp.last_error or "")
    assert sftp.rmdir("full") == SFTP_FAILURE
    assert "not empty" in (sftp.last_error or "")
    assert sftp.rmdir("full/f") == SFTP_FAILURE
    assert sftp.rmdir("/") == SFTP_PERMISSION_DENIED
    assert "full" in fake.dirs
    assert fake.files["full/f"] == b"x"
    assert sftp.mkdir("empty", SFTPAttributes()) == SFTP_FAILURE
    assert sftp.mkdir("new", SFTPAttributes()) == SFTP_OK
    assert sftp.mkdir("no/parent", SFTPAttributes()) == SFTP_NO_SUCH_FILE
    assert sftp.rmdir("empty") == SFTP_OK
    assert sftp.remove("full/f") == SFTP_OK
    assert "empty" not in fake.dirs
    assert "full/f" not in fake.files


def test_rename_and_posix_rename(sftp, fake):
    fake.put_file("a", b"A")
    fake.put_file("b", b"B")
    assert sftp.rename("a", "b") == SFTP_FAILURE
    assert "already exists" in (sftp.last_error or "")
    assert sftp.posix_rename("a", "b") == SFTP_OK
    assert fake.files == {"b": bytearray(b"A")}
    assert sftp.rename("b", "c") == SFTP_OK
    assert sftp.posix_rename("c", "c") == SFTP_OK
    assert sftp.posix_rename("missing", "c") == SFTP_NO_SUCH_FILE


def test_setstat_size_rewrites_and_modes_are_accepted(sftp, fake):
    fake.put_file("t.bin", b"0123456789")
    attrs = SFTPAttributes()
    attrs.st_size = 4
    assert sftp.chattr("t.bin", attrs) == SFTP_OK
    assert fake.files["t.bin"] == b"0123"
    modes = SFTPAttributes()
    modes.st_mode = 0o600
    modes.st_atime = modes.st_mtime = 0
    assert sftp.chattr("t.bin", modes) == SFTP_OK
    assert sftp.chattr("nope", modes) == SFTP_NO_SUCH_FILE
    assert _temps(fake) == []


def test_refused_paths_hidden_files_and_links(sftp, fake):
    assert sftp.stat("../etc/passwd") == SFTP_PERMISSION_DENIED
    assert "above the root" in (sftp.last_error or "")
    assert sftp.open(".env", WRITE_NEW, SFTPAttributes()) == SFTP_PERMISSION_DENIED
    assert "allow_hidden" in (sftp.last_error or "")
    assert sftp.stat(".bashrc") == SFTP_PERMISSION_DENIED
    assert sftp.symlink("a", "b") == SFTP_OP_UNSUPPORTED
    assert sftp.readlink("a") == SFTP_OP_UNSUPPORTED
    with pytest.raises(SFTPStatusError):
        sftp.canonicalize("/../x")
    assert sftp.canonicalize("a/./b/../c") == "/a/c"
    assert sftp.canonicalize(".") == "/"


def test_write_handle_stat_reports_the_length(sftp, fake):
    handle = _open(sftp, "s.bin", WRITE_NEW)
    assert isinstance(handle, WriteHandle)
    _write_all(handle, b"x" * 1000)
    assert handle.stat().st_size == 1000
    assert handle.read(10, 5) == b"xxxxx"  # switches to the local file
    handle.close()
    assert fake.files["s.bin"] == b"x" * 1000


def test_failed_replacement_puts_the_old_file_back(sftp, fake, service):
    fake.put_file("doc.txt", b"old")
    fake.put_file("upload.part", b"new")
    original = fake._patch
    calls = []

    def second_rename_fails(path, new):
        calls.append((path, new))
        if path == "upload.part":
            return httpx.Response(500, json={"message": "disk full"})
        return original(path, new)

    fake._patch = second_rename_fails
    with pytest.raises(SFTPStatusError, match="disk full"):
        service.replace("upload.part", "doc.txt")
    assert fake.files["doc.txt"] == b"old"  # moved aside, then back
    assert len(calls) == 3


def test_overwriting_a_small_file_costs_eight_requests(sftp, fake):
    fake.put_file("small.txt", b"old")
    fake.requests.clear()
    handle = _open(sftp, "small.txt", WRITE_NEW)
    assert handle.write(0, b"new") == SFTP_OK
    handle.close()
    assert fake.files["small.txt"] == b"new"
    methods = [(method, ".old" in path) for method, path, _ in fake.requests]
    # stat at open; save, verify; stat the target, set it aside, rename the upload in;
    # empty the aside copy and delete it (without asking first whether it is there)
    assert methods == [
        ("GET", False),
        ("PUT", False),
        ("GET", False),
        ("GET", False),
        ("PATCH", False),
        ("PATCH", False),
        ("PUT", True),
        ("DELETE", True),
    ]
