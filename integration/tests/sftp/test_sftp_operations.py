"""Acceptance 4 and 5, and the failure messages: renames over existing files through
``posix-rename@openssh.com``, ``rm``/``rmdir`` refusals that change nothing, paths that try
to leave the root, hidden files. OpenSSH's ``sftp`` prints only the status code's text, so
the messages are read with paramiko's client, which raises them."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import paramiko
import pytest
from jupyssh_harness import JupyterServer

from .conftest import SFTPEndpoint, sha256_of, write_random


def test_posix_rename_is_advertised_and_replaces(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    new, old = tmp_path / "new.bin", tmp_path / "old.bin"
    new_digest = write_random(new, 200_000)
    write_random(old, 300_000)
    sftp_endpoint.sftp(f"put {old} target.bin\nput {new} saved.tmp\nrename saved.tmp target.bin\n")
    root = sftp_endpoint.root
    assert sha256_of(root / "target.bin") == new_digest
    assert not (root / "saved.tmp").exists()
    # SFTP v3 rename refuses an existing target: the replacement above was posix-rename,
    # which OpenSSH uses only when the server advertises it
    argv = sftp_endpoint.sftp_argv()
    argv.insert(1, "-vv")
    debug = subprocess.run(
        argv, input="pwd\n", capture_output=True, text=True, timeout=60, check=True
    ).stderr
    assert 'Server supports extension "posix-rename@openssh.com"' in debug


def test_rm_of_a_folder_and_rmdir_of_a_full_one_fail_and_change_nothing(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient, tmp_path: Path
):
    local = tmp_path / "f.bin"
    digest = write_random(local, 1000)
    sftp_endpoint.sftp(f"mkdir full\nput {local} full/f.bin\nmkdir empty\n")
    root = sftp_endpoint.root
    for command in ("rm full", "rmdir full"):
        result = sftp_endpoint.sftp(command + "\n", check=False)
        assert result.returncode != 0, command
        assert "full" in result.stderr, result.stderr
    assert sha256_of(root / "full" / "f.bin") == digest
    with pytest.raises(OSError, match="is a directory"):
        client.remove("full")
    with pytest.raises(OSError, match="directory not empty"):
        client.rmdir("full")
    with pytest.raises(OSError, match="not a directory"):
        client.rmdir("full/f.bin")
    assert sha256_of(root / "full" / "f.bin") == digest
    assert not list((root / ".Trash-1000" / "files").glob("full*"))
    sftp_endpoint.sftp("rmdir empty\nrm full/f.bin\nrmdir full\n")
    assert not (root / "full").exists()
    assert not (root / "empty").exists()


def test_mkdir_of_an_existing_path_fails(sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient):
    client.mkdir("made")
    with pytest.raises(OSError, match="already exists"):
        client.mkdir("made")
    assert client.stat("made").st_mode is not None
    assert (sftp_endpoint.root / "made").is_dir()


def test_v3_rename_refuses_an_existing_target(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient
):
    with client.open("r1.txt", "w") as handle:
        handle.write(b"one")
    with client.open("r2.txt", "w") as handle:
        handle.write(b"two")
    with pytest.raises(OSError, match="already exists"):
        client.rename("r1.txt", "r2.txt")
    client.posix_rename("r1.txt", "r2.txt")
    assert (sftp_endpoint.root / "r2.txt").read_bytes() == b"one"


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "/..",
        "/../../etc/passwd",
        "a/../../x",
        "~/../x",
        "..\\x",
        "~root/x",
    ],
)
def test_paths_escaping_the_root_are_refused(client: paramiko.SFTPClient, path: str):
    with pytest.raises(PermissionError):
        client.stat(path)
    with pytest.raises(PermissionError):
        client.open(path, "w")
    with pytest.raises(PermissionError):
        client.normalize(path)


@pytest.mark.parametrize("path", ["/etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "%2E%2E/x"])
def test_absolute_and_encoded_paths_stay_inside(
    client: paramiko.SFTPClient, jupyter_server: JupyterServer, path: str
):
    """``/etc/passwd`` is the Contents root's ``etc/passwd``; ``%2e%2e`` is a name."""
    with pytest.raises(FileNotFoundError):
        client.stat(path)
    with pytest.raises(FileNotFoundError):
        client.open(path, "w")  # its folder does not exist
    outside = jupyter_server.exec(["ls", "-A", "/srv", "/home/jupyter"]).stdout
    assert "x" not in outside.split()


def test_nul_in_a_path_is_refused(client: paramiko.SFTPClient):
    with pytest.raises(PermissionError, match="NUL"):
        client.stat("a\x00b")


def test_hidden_files_are_refused_with_the_setting_named(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient, tmp_path: Path
):
    """Refused at open (paramiko's client ignores a failing close; OpenSSH's does not)."""
    with pytest.raises(PermissionError, match=r"ContentsManager\.allow_hidden") as caught:
        client.open(".secret", "w")
    assert caught.value.errno == errno.EACCES
    local = tmp_path / "x"
    local.write_bytes(b"x")
    result = sftp_endpoint.sftp(f"put {local} .secret\n", check=False)
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (sftp_endpoint.root / ".secret").exists()
    with pytest.raises(PermissionError, match=r"allow_hidden"):
        client.stat(".bashrc")


def test_symlinks_are_unsupported(client: paramiko.SFTPClient):
    with pytest.raises(OSError, match="symbolic links"):
        client.symlink("a", "b")


def test_listing_has_sizes_modes_and_times(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient, tmp_path: Path
):
    client.mkdir("listed")
    with client.open("listed/ten.bin", "w") as handle:
        handle.write(b"0123456789")
    entries = {a.filename: a for a in client.listdir_attr("listed")}
    assert entries["ten.bin"].st_size == 10
    assert entries["ten.bin"].st_mode == 0o100644
    assert entries["ten.bin"].st_mtime
    assert entries["ten.bin"].st_mtime > 1_600_000_000
    assert client.stat("listed").st_mode == 0o040755
    ls = sftp_endpoint.sftp("ls -l listed\n").stdout
    assert "ten.bin" in ls
    assert " 10 " in ls
