"""authorized_keys: parsing OpenSSH lines, skipping what cannot be honoured, reloading."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.server.authorized_keys import (
    AuthorizedKeys,
    parse_authorized_keys,
)


def _keygen(path: Path, kind: str, bits: int | None = None, comment: str = "") -> str:
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        argv[2:2] = ["-b", str(bits)]
    subprocess.run(argv, check=True)
    return path.with_suffix(".pub").read_text().strip()


def _fingerprint(pub_line: str, tmp_path: Path) -> str:
    path = tmp_path / "fp.pub"
    path.write_text(pub_line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


@pytest.fixture(scope="module")
def pubs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("keys")
    return {
        "ed25519": _keygen(folder / "ed", "ed25519", comment="alice@laptop"),
        "ecdsa": _keygen(folder / "ec", "ecdsa", 384, comment="ec key"),
        "rsa": _keygen(folder / "rsa", "rsa", 3072),
        "rsa1024": _keygen(folder / "rsa1024", "rsa", 1024),
        "other": _keygen(folder / "other", "ed25519"),
    }


def test_parses_types_comments_options_and_bad_lines(pubs: dict[str, str], tmp_path: Path) -> None:
    ed_type, ed_b64, _ = pubs["ed25519"].split(" ", 2)
    other_b64 = pubs["other"].split()[1]
    rsa_b64 = pubs["rsa"].split()[1]
    text = "\n".join(
        [
            "# a comment",  # 1
            "",  # 2
            f"  {pubs['ed25519']}  ",  # 3 surrounding blanks
            pubs["ecdsa"],  # 4 comment with a space
            f"ssh-rsa {rsa_b64}",  # 5 no comment
            f'restrict,command="echo hi there" ssh-ed25519 {other_b64} boxed',  # 6
            f'no-pty,from="10.0.0.0/8" {ed_type} {ed_b64}',  # 7
            "ssh-ed25519 not*base64",  # 8
            f"ssh-rsa {ed_b64}",  # 9 blob holds another type
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",  # 10
            f"ssh-ed25519-cert-v01@openssh.com {ed_b64}",  # 11
            pubs["rsa1024"],  # 12
            "ssh-ed25519",  # 13
            "hello world",  # 14
            'command="unterminated ssh-ed25519 AAAA',  # 15
            "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00").decode(),  # 16
            "\t# indented comment",  # 17
        ]
    )

    keys, problems = parse_authorized_keys(text)

    assert [(k.key_type, k.line, k.comment) for k in keys] == [
        ("ssh-ed25519", 3, "alice@laptop"),
        ("ecdsa-sha2-nistp384", 4, "ec key"),
        ("ssh-rsa", 5, ""),
    ]
    assert keys[0].blob == base64.b64decode(ed_b64)
    assert keys[0].fingerprint == _fingerprint(pubs["ed25519"], tmp_path)
    assert keys[2].fingerprint == _fingerprint(pubs["rsa"], tmp_path)
    reasons = dict(problems)
    assert sorted(reasons) == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert (
        reasons[6] == "key options are not supported by this server, key skipped (restrict,command)"
    )
    assert reasons[7] == "key options are not supported by this server, key skipped (no-pty,from)"
    assert reasons[8] == "key data is not valid base64"
    assert reasons[9] == "key data does not hold a ssh-rsa key"
    assert reasons[10] == "unsupported key type ssh-dss"
    assert reasons[11] == "unsupported key type ssh-ed25519-cert-v01@openssh.com"
    assert reasons[12] == "RSA key has 1024 bits, fewer than 2048"
    assert reasons[13] == "no key data after the key type"
    assert "not a key line" in reasons[14]
    assert "unterminated quote" in reasons[15]
    assert reasons[16] == "key data is not a valid ssh-ed25519 key"
    # problems never carry key material
    for reason in reasons.values():
        assert ed_b64[:20] not in reason
        assert "echo hi" not in reason


def test_keys_repr_holds_no_key_material(pubs: dict[str, str]) -> None:
    (key,), _ = parse_authorized_keys(pubs["ed25519"])
    assert pubs["ed25519"].split()[1][:16] not in repr(key)


@given(st.text())
def test_parser_never_raises(text: str) -> None:
    keys, problems = parse_authorized_keys(text)
    assert len(keys) + len(problems) <= len(text.split("\n"))


def test_finding_9_lines_split_on_newline_only(pubs: dict[str, str]) -> None:
    """OpenSSH splits authorized_keys on "\n" alone: a form feed, vertical tab, U+2028…
    inside a line make the whole line invalid, never an options fragment plus a bare,
    unrestricted key (security finding 9)."""
    ed = pubs["ed25519"]
    other = pubs["other"]
    text = (
        f'from="192.0.2.1"\f{ed}\n'  # 1 sshd rejects the whole line
        f"{other}\r\n"  # 2 CRLF files still work
        f"# comment\x0b{ed}\n"  # 3
        f"restrict\u2028{ed}\n"  # 4
        f"{ed}\x1c\n"  # 5 trailing control character
        f"{ed}\x85 comment\n"  # 6
    )
    keys, problems = parse_authorized_keys(text)
    assert [(key.line, key.comment) for key in keys] == [(2, "")]
    assert keys[0].blob == _blob(other)
    reasons = dict(problems)
    assert sorted(reasons) == [1, 4, 5, 6]  # 3 is a comment line whatever follows
    assert all(reason == "line holds a control character, skipped" for reason in reasons.values())


def _write(path: Path, *lines: str) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o600)


def _blob(pub_line: str) -> bytes:
    return base64.b64decode(pub_line.split()[1])


def test_match_and_reload_on_change(pubs: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "authorized_keys"
    _write(path, pubs["ed25519"])
    keys = AuthorizedKeys(path)
    assert len(keys.load()) == 1

    assert keys.match(_blob(pubs["ed25519"])) is not None
    assert keys.match(_blob(pubs["other"])) is None

    _write(path, pubs["ed25519"], pubs["other"])  # add a key
    entry = keys.match(_blob(pubs["other"]))
    assert entry is not None
    assert entry.line == 2

    _write(path, pubs["other"])  # revoke the first key
    assert keys.match(_blob(pubs["ed25519"])) is None
    assert keys.match(_blob(pubs["other"])) is not None


def test_same_size_rewrite_is_noticed(pubs: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "authorized_keys"
    first = " ".join(pubs["ed25519"].split()[:2])
    assert len(first) == len(pubs["other"])
    _write(path, first)
    keys = AuthorizedKeys(path)
    keys.load()
    stat_before = path.stat()
    replacement = tmp_path / "new"
    _write(replacement, pubs["other"])  # same size
    os.replace(replacement, path)  # new inode even if mtime and size look the same
    os.utime(path, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    assert keys.match(_blob(pubs["other"])) is not None
    assert keys.match(_blob(pubs["ed25519"])) is None


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(ServerConfigError, match="authorized_keys file not found") as info:
        AuthorizedKeys(path).load()
    assert info.value.where == str(path)
    assert info.value.hint
    assert "cat ~/.ssh/id_ed25519.pub" in info.value.hint


def test_group_writable_file_is_refused(pubs: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "authorized_keys"
    _write(path, pubs["ed25519"])
    path.chmod(0o664)
    with pytest.raises(ServerConfigError, match="writable by other users") as info:
        AuthorizedKeys(path).load()
    assert info.value.hint == f"run: chmod go-w {path}"
    path.chmod(0o644)  # world/group readable is fine (public keys), as for sshd
    assert len(AuthorizedKeys(path).load()) == 1


def test_file_becoming_unusable_refuses_everyone(
    pubs: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "authorized_keys"
    _write(path, pubs["ed25519"])
    keys = AuthorizedKeys(path)
    keys.load()
    caplog.set_level(logging.WARNING, logger="jupyssh.core.server")
    caplog.clear()

    path.chmod(0o666)
    assert keys.match(_blob(pubs["ed25519"])) is None
    path.unlink()
    assert keys.match(_blob(pubs["ed25519"])) is None
    assert keys.keys == ()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("writable by other users" in m for m in warnings)
    assert any("not found" in m for m in warnings)
    assert len(warnings) == 2  # each state is reported once, not per attempt

    _write(path, pubs["ed25519"])
    assert keys.match(_blob(pubs["ed25519"])) is not None


def test_load_logs_problems_without_key_material(
    pubs: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "authorized_keys"
    _write(path, pubs["ed25519"], f"restrict {pubs['other']}", pubs["rsa1024"])
    caplog.set_level(logging.DEBUG, logger="jupyssh.core.server")

    AuthorizedKeys(path).load()

    text = caplog.text
    assert f"{path}:2: key options are not supported" in text
    assert f"{path}:3: RSA key has 1024 bits" in text
    for name in ("ed25519", "other", "rsa1024"):
        assert pubs[name].split()[1][:20] not in text


@pytest.mark.parametrize("text", ["\xa0", "\u2003ssh-ed25519", "ssh-ed25519\xa0AAAA"])
def test_unicode_spaces_are_not_field_separators(text: str) -> None:
    """sshd separates fields with spaces and tabs only; a no-break space is part of a word
    (hypothesis found ``"\\xa0"`` raising IndexError)."""
    keys, problems = parse_authorized_keys(text)
    assert keys == []
    assert len(problems) == 1
