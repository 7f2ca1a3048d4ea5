"""The security audit's SFTP findings (``security.md`` numbers), one test each: what a
hostile authenticated client could do before, and may no longer."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import httpx
import paramiko
import pytest
from paramiko import SFTPAttributes
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_OPENDIR,
    CMD_READ,
    CMD_WRITE,
    SFTP_FAILURE,
    SFTP_OK,
    SFTP_PERMISSION_DENIED,
)
from paramiko.sftp_client import int64

from jupyssh.core.jupyter import JupyterClient
from jupyssh.sftp import SFTPOptions, SFTPService
from jupyssh.sftp.handles import ReadHandle, WriteHandle
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.limits import MAX_PACKET, MAX_READ_WRITE

from .conftest import BASE, KIB, TOKEN, FakeContents

WRITE_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
WRITE_INPLACE = os.O_WRONLY | os.O_CREAT


@contextlib.contextmanager
def _serving(
    fake: FakeContents, **options: int
) -> Iterator[tuple[SFTPService, JupyterSFTPInterface]]:
    """A service tuned by ``options`` and one session's interface on it."""
    client = JupyterClient(BASE, token=TOKEN, transport=httpx.MockTransport(fake))
    tuned = {"chunk_size": 64 * KIB, "read_block": 64 * KIB, "read_ahead": 4, **options}
    with SFTPService(client, SFTPOptions(**tuned)) as service:  # type: ignore[arg-type]
        interface = JupyterSFTPInterface(None, service)  # type: ignore[arg-type]
        interface.session_started()
        try:
            yield service, interface
        finally:
            interface.session_ended()


def _temps(fake: FakeContents) -> list[str]:
    return [name for name in fake.names() if ".jupyssh-" in name]


# --- 5: handles and buffers ------------------------------------------------------------------


def test_finding_5_handle_limit_is_enforced_per_session(client: paramiko.SFTPClient, fake):
    _, reply = client._request(CMD_EXTENDED, "limits@openssh.com")  # type: ignore[attr-defined]
    advertised = [reply.get_int64() for _ in range(4)][3]
    assert advertised == 64
    fake.dirs.add("d")
    fake.put_file("f", b"x")
    opened = [client.open("f") for _ in range(advertised - 1)]
    _, reply = client._request(CMD_OPENDIR, "d")  # type: ignore[attr-defined]
    folder = reply.get_binary()  # folders count too
    with pytest.raises(OSError, match="too many open handles"):
        client.open("f")
    with pytest.raises(OSError, match="too many open handles"):
        client._request(CMD_OPENDIR, "d")  # type: ignore[attr-defined]
    opened.pop().close()
    opened.append(client.open("f"))  # a closed handle frees its place
    for handle in opened:
        handle.close()
    client._request(CMD_CLOSE, folder)  # type: ignore[attr-defined]


def test_finding_5_read_ahead_shrinks_to_the_buffer_budget(fake):
    data = os.urandom(1024 * KIB)
    fake.put_file("big.bin", data)
    with _serving(fake, buffer_budget=256 * KIB) as (service, sftp):
        handles = [sftp.open("big.bin", os.O_RDONLY, SFTPAttributes()) for _ in range(8)]
        for handle in handles:  # 8 readers x 4 blocks of read-ahead would be 2 MiB
            assert isinstance(handle, ReadHandle)
            assert handle.read(0, 1) == data[:1]
        for offset in range(0, 256 * KIB, 32 * KIB):
            for handle in handles:  # every reader still reads right, budget or not
                assert handle.read(offset, 32 * KIB) == data[offset : offset + 32 * KIB]
        assert 0 < service.buffers.peak <= 256 * KIB
        for handle in handles:
            handle.close()
        assert service.buffers.used == 0


def test_finding_5_upload_buffers_stay_within_the_buffer_budget(fake):
    datas = [os.urandom(300 * KIB + n) for n in range(4)]
    with _serving(fake, buffer_budget=64 * KIB) as (service, sftp):
        handles = [sftp.open(f"u{n}", WRITE_NEW, SFTPAttributes()) for n in range(4)]
        for offset in range(0, 301 * KIB, 16 * KIB):  # interleaved: 4 buffers at once
            for handle, data in zip(handles, datas, strict=True):
                assert isinstance(handle, WriteHandle)
                piece = data[offset : offset + 16 * KIB]
                if piece:
                    assert handle.write(offset, piece) == SFTP_OK
        for handle in handles:
            handle.close()
        assert [bytes(fake.files[f"u{n}"]) for n in range(4)] == datas
        assert service.buffers.peak <= 64 * KIB
        assert service.buffers.used == 0


def test_finding_5_an_oversized_packet_ends_the_session(client: paramiko.SFTPClient, fake):
    fake.put_file("f", b"x")
    handle = client.open("f", "w")
    message = paramiko.Message()
    message.add_int(99)
    message.add_string(handle.handle)
    message.add_int64(0)
    message.add_string(b"w" * (MAX_PACKET + 1))  # paramiko alone reads up to 16 MiB

    # The session ends as soon as the length is read: the client sees its end of file, or
    # its channel closed already while it was still sending the rest.
    def send_then_read() -> None:
        client._send_packet(CMD_WRITE, message)  # type: ignore[attr-defined]
        client._read_packet()  # type: ignore[attr-defined]

    with pytest.raises((EOFError, OSError)):
        send_then_read()
    assert fake.files["f"] == b"x"


# --- 6: READ length ---------------------------------------------------------------------------


def test_finding_6_read_is_clamped(client: paramiko.SFTPClient, fake):
    data = os.urandom(1024 * KIB)
    fake.put_file("big.bin", data)
    handle = client.open("big.bin")
    kind, reply = client._request(CMD_READ, handle.handle, int64(0), 0xFFFFFFF0)  # type: ignore[attr-defined]
    assert kind == CMD_DATA
    assert reply.get_binary() == data[:MAX_READ_WRITE]  # OpenSSH's SFTP_MAX_READ_LENGTH
    handle.close()
    written = client.open("w.bin", "w")  # a write handle's read (its local copy) too
    written.write(data)
    written.flush()
    kind, reply = client._request(CMD_READ, written.handle, int64(0), 0xFFFFFFF0)  # type: ignore[attr-defined]
    assert len(reply.get_binary()) == MAX_READ_WRITE
    written.close()


# --- 7: huge offsets and sizes ----------------------------------------------------------------


def test_finding_7_write_at_a_huge_offset_is_refused_and_nothing_written(sftp, fake):
    handle = sftp.open("sparse.bin", WRITE_NEW, SFTPAttributes())
    assert isinstance(handle, WriteHandle)
    assert handle.write(2**40, b"x") == SFTP_FAILURE  # 1 TiB: far past 16 GiB
    assert "16 GiB" in (sftp.last_error or "")
    assert handle.stat().st_size == 0
    size = SFTPAttributes()
    size.st_size = 2**40
    assert handle.chattr(size) == SFTP_FAILURE
    assert handle.stat().st_size == 0
    handle.close()
    assert fake.files["sparse.bin"] == b""
    assert _temps(fake) == []


def test_finding_7_setstat_beyond_the_limit_is_refused_before_any_request(sftp, fake):
    fake.put_file("t.bin", b"abc")
    fake.requests.clear()
    size = SFTPAttributes()
    size.st_size = 2**63
    assert sftp.chattr("t.bin", size) == SFTP_FAILURE
    assert "max-file-size" in (sftp.last_error or "")
    assert fake.files["t.bin"] == b"abc"
    assert [method for method, _, _ in fake.requests if method != "GET"] == []


def test_finding_7_the_limit_is_exact(fake):
    with _serving(fake, max_file_size=100 * KIB) as (_, sftp):
        handle = sftp.open("edge.bin", WRITE_NEW, SFTPAttributes())
        assert isinstance(handle, WriteHandle)
        assert handle.write(100 * KIB - 1, b"y") == SFTP_OK  # exactly the limit
        assert handle.write(100 * KIB, b"z") == SFTP_FAILURE  # one byte past it
        handle.close()
        assert len(fake.files["edge.bin"]) == 100 * KIB


# --- 8: the spill copy of the target -----------------------------------------------------------


def test_finding_8_spill_copy_counts_against_the_spill_budget(fake):
    old = os.urandom(200 * KIB)
    fake.put_file("big.bin", old)
    with _serving(fake, spill_budget=256 * KIB) as (service, sftp):
        first = sftp.open("big.bin", WRITE_INPLACE, SFTPAttributes())
        second = sftp.open("big.bin", WRITE_INPLACE, SFTPAttributes())
        assert isinstance(first, WriteHandle)
        assert isinstance(second, WriteHandle)
        assert first.write(10, b"1") == SFTP_OK  # out of order: the old file is copied
        assert second.write(10, b"2") == SFTP_FAILURE  # a second copy does not fit
        assert "spill" in (sftp.last_error or "")
        assert service.spills.peak <= 256 * KIB
        first.close()
        assert service.spills.used == 0
        assert second.write(10, b"2") == SFTP_OK  # the first copy's room is back
        second.close()
        assert bytes(fake.files["big.bin"]) == old[:10] + b"2" + old[11:]
        assert _temps(fake) == []


# --- 16: names in logs --------------------------------------------------------------------


def test_finding_16_client_names_cannot_forge_log_lines(sftp, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="jupyssh")
    forged = "x\nERROR jupyssh.sftp forged line\r\x1b[2K"
    assert sftp.stat(forged) != SFTP_OK
    handle = sftp.open(f"up{forged}", WRITE_NEW, SFTPAttributes())
    assert isinstance(handle, WriteHandle)
    assert handle.write(0, b"data") == SFTP_OK
    sftp.session_ended()  # abandoned: logged at INFO with its name
    handle.close()
    messages = [record.getMessage() for record in caplog.records]
    assert any("forged" in message for message in messages)
    for message in messages:
        assert not set(message) & {"\n", "\r", "\x1b"}, message
    assert any("\\n" in message for message in messages)  # escaped, not dropped


# --- 19e: the root ----------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["/", "", ".", "a/..", "~"])
def test_finding_19e_renaming_the_root_is_refused(sftp, fake, root):
    fake.put_file("f", b"x")
    for rename in (sftp.rename, sftp.posix_rename):
        assert rename(root, "elsewhere") == SFTP_PERMISSION_DENIED
        assert "root" in (sftp.last_error or "")
        assert rename("f", root) == SFTP_PERMISSION_DENIED
    assert [method for method, _, _ in fake.requests if method == "PATCH"] == []
    assert fake.files == {"f": bytearray(b"x")}


# --- 18: links out of the root (also in integration/tests/sftp/test_sftp_links.py) ---------


def test_finding_18_a_refused_read_names_links_out_of_the_root(sftp, fake):
    fake.put_file("link_out", b"secret")  # as the Contents API shows a link: a file
    original = fake._files

    def refuse(path, request):  # tornado's answer for a real path outside the root
        if path == "link_out":
            return httpx.Response(403, text="link_out is not in root static directory")
        return original(path, request)

    fake._files = refuse
    handle = sftp.open("link_out", os.O_RDONLY, SFTPAttributes())
    assert isinstance(handle, ReadHandle)
    assert handle.read(0, 10) == SFTP_PERMISSION_DENIED
    assert "symbolic link leading outside its root" in (sftp.last_error or "")
    handle.close()
