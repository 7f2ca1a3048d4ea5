"""JupyterSFTPServer over a paramiko loopback (a socket pair, no network): the extensions
it advertises and answers, and failure messages that reach the client."""

from __future__ import annotations

import struct

import paramiko
import pytest
from paramiko.sftp import CMD_CLOSE, CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_VERSION

from jupyssh.sftp.subsystem import EXTENSIONS, MAX_READ_WRITE

from .conftest import FakeContents


def test_version_advertises_posix_rename_limits_and_expand_path(client: paramiko.SFTPClient):
    # paramiko's client does not keep the VERSION reply: ask a fresh channel by hand
    channel = client.get_channel()
    assert channel is not None
    transport = channel.get_transport()
    raw = transport.open_session()
    raw.invoke_subsystem("sftp")
    raw.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT, version 3
    length = struct.unpack(">I", raw.recv(4))[0]
    reply = b""
    while len(reply) < length:
        reply += raw.recv(length - len(reply))
    raw.close()
    assert reply[0] == CMD_VERSION
    message = paramiko.Message(reply[5:])
    names = []
    while message.get_remainder():
        names.append((message.get_text(), message.get_text()))
    assert names == list(EXTENSIONS)


def test_limits_reply(client: paramiko.SFTPClient):
    kind, message = client._request(CMD_EXTENDED, "limits@openssh.com")  # type: ignore[attr-defined]
    assert kind == CMD_EXTENDED_REPLY
    packet, read, write, handles = (message.get_int64() for _ in range(4))
    assert (read, write) == (MAX_READ_WRITE, MAX_READ_WRITE)
    assert packet > read
    assert handles > 0


def test_expand_path_and_posix_rename(client: paramiko.SFTPClient, fake: FakeContents):
    assert client.normalize("~/a/../b") == "/b"
    fake.put_file("a", b"new")
    fake.put_file("b", b"old")
    client.posix_rename("a", "b")
    assert fake.files == {"b": bytearray(b"new")}


def test_failed_close_reaches_the_client_with_its_message(
    client: paramiko.SFTPClient, fake: FakeContents
):
    fake.put_file("t.bin", b"old")
    handle = client.open("t.bin", "w")
    handle.write(b"new data")
    handle.flush()
    fake.fail_next[("PATCH", "t.bin")] = 500
    with pytest.raises(OSError, match="forced 500"):
        client._request(CMD_CLOSE, handle.handle)  # type: ignore[attr-defined]
    handle._closed = True  # already closed on the server
    assert fake.files["t.bin"] == b"old"
    assert not [n for n in fake.names() if ".jupyssh-" in n]


def test_messages_come_with_the_status(client: paramiko.SFTPClient, fake: FakeContents):
    fake.dirs.add("d")
    fake.put_file("d/f", b"x")
    with pytest.raises(OSError, match="directory not empty"):
        client.rmdir("d")
    with pytest.raises(PermissionError, match="above the root"):
        client.stat("../x")
    with pytest.raises(FileNotFoundError):
        client.stat("missing")
    assert client.stat("d/f").st_size == 1  # a success after failures carries no message
