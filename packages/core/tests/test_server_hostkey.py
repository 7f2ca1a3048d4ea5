"""The persistent ed25519 host key: created privately once, reused, refused when exposed."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.server.hostkey import (
    default_host_key_path,
    fingerprint,
    known_hosts_line,
    load_or_create_host_key,
)


def _ssh_keygen_fingerprint(path: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def test_created_private_under_config_dir_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYSSH_HOME", str(tmp_path / "home"))
    path = default_host_key_path()
    assert path == tmp_path / "home" / "config" / "host_keys" / "ssh_host_ed25519_key"

    key = load_or_create_host_key()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, tmp_path / "home"):  # finding 19b
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert key.get_name() == "ssh-ed25519"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    again = load_or_create_host_key()
    assert fingerprint(again) == fingerprint(key)
    assert again.asbytes() == key.asbytes()


def test_fingerprint_and_public_key_match_openssh(tmp_path: Path) -> None:
    path = tmp_path / "hk"
    key = load_or_create_host_key(path)

    assert fingerprint(key) == _ssh_keygen_fingerprint(path)
    assert fingerprint(key) == key.fingerprint  # paramiko's own SHA256 rendering
    public = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    assert public[:2] == ["ssh-ed25519", key.get_base64()]


def test_explicit_path_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "key"
    load_or_create_host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_key_made_by_ssh_keygen_is_used(tmp_path: Path) -> None:
    path = tmp_path / "hk"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    key = load_or_create_host_key(path)
    assert fingerprint(key) == _ssh_keygen_fingerprint(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "hk"
    load_or_create_host_key(path)
    path.chmod(mode)

    with pytest.raises(ServerConfigError) as info:
        load_or_create_host_key(path)

    assert info.value.hint == f"run: chmod 600 {path}"
    assert f"chmod 600 {path}" in str(info.value)
    assert info.value.where == str(path)


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_finding_15_a_file_that_is_no_key_gets_no_chmod_advice(tmp_path: Path, mode: int) -> None:
    """``--host-key /etc/passwd`` must say "not an SSH private key", not "chmod 600
    /etc/passwd" (security finding 15): the content is checked before the mode."""
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    passwd.chmod(mode)

    with pytest.raises(ServerConfigError, match="not an SSH private key") as info:
        load_or_create_host_key(passwd)

    assert "chmod" not in str(info.value)
    assert info.value.where == str(passwd)
    assert stat.S_IMODE(passwd.stat().st_mode) == mode  # untouched

    broken = tmp_path / "broken"  # looks like a key, is none: parsed before the mode check
    broken.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    broken.chmod(mode)
    with pytest.raises(ServerConfigError, match="cannot be read") as info:
        load_or_create_host_key(broken)
    assert "chmod" not in str(info.value)


def test_unreadable_or_foreign_key_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    garbage.chmod(0o600)
    with pytest.raises(ServerConfigError, match="not an SSH private key"):
        load_or_create_host_key(garbage)

    broken = tmp_path / "broken"
    broken.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    broken.chmod(0o600)
    with pytest.raises(ServerConfigError, match="cannot be read"):
        load_or_create_host_key(broken)

    rsa = tmp_path / "rsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)], check=True
    )
    with pytest.raises(ServerConfigError, match="ed25519"):
        load_or_create_host_key(rsa)

    encrypted = tmp_path / "enc"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret-pass", "-f", str(encrypted)],
        check=True,
    )
    with pytest.raises(ServerConfigError, match="encrypted"):
        load_or_create_host_key(encrypted)

    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(ServerConfigError, match="regular file"):
        load_or_create_host_key(folder)

    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ServerConfigError, match="cannot be opened"):
        load_or_create_host_key(dangling)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "hk"
    results: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.append(fingerprint(load_or_create_host_key(path)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(results)) == 1
    assert results[0] == _ssh_keygen_fingerprint(path)
    assert sorted(os.listdir(tmp_path)) == ["hk"]


def test_known_hosts_line_forms(tmp_path: Path) -> None:
    key = load_or_create_host_key(tmp_path / "hk")
    b64 = key.get_base64()

    assert known_hosts_line(key, "127.0.0.1", 2222) == f"[127.0.0.1]:2222 ssh-ed25519 {b64}"
    assert known_hosts_line(key, "127.0.0.1", 22) == f"127.0.0.1 ssh-ed25519 {b64}"
    assert known_hosts_line(key, "::1", 2222) == f"[::1]:2222 ssh-ed25519 {b64}"
    assert known_hosts_line(key, "[::1]", 22) == f"::1 ssh-ed25519 {b64}"
    assert known_hosts_line(key, "myhost", 2222) == f"[myhost]:2222 ssh-ed25519 {b64}"
