"""Reading config files as ssh does: words, blocks, Include, and what applies to a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyssh.sshconfig.configfile import MAX_DEPTH, argv_split, scan_config, split_line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("'a b' c", ["a b", "c"]),
        (r"a\ b c", ["a b", "c"]),
        (r'"a\"b"', ['a"b']),
        ("a #comment here", ["a"]),
        ("a#b", ["a#b"]),
        ("", []),
    ],
)
def test_argv_split(text: str, expected: list[str]) -> None:
    assert argv_split(text) == expected


def test_argv_split_refuses_an_open_quote() -> None:
    with pytest.raises(ValueError, match="quote"):
        argv_split('"open')


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  HostName 10.0.0.1", ("hostname", ["10.0.0.1"])),
        ("User=alice", ("user", ["alice"])),
        ("Port = 2200", ("port", ["2200"])),
        ("Host a b !c", ("host", ["a", "b", "!c"])),
        ("# comment", None),
        ("   ", None),
    ],
)
def test_split_line(line: str, expected: tuple[str, list[str]] | None) -> None:
    assert split_line(line) == expected


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_scan_lists_aliases_and_follows_includes(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    _write(tmp_path / "conf.d" / "b.conf", "Host beta gamma*\n  User b\n")
    _write(tmp_path / "conf.d" / "a.conf", "Host alpha\n  User a\n")
    config = _write(
        tmp_path / "config",
        f"Include {tmp_path}/conf.d/*.conf\nHost delta !epsilon\n  Port 1\n",
    )
    scan = scan_config(config, home=tmp_path)
    assert scan.aliases() == ["alpha", "beta", "delta"]  # glob order, then the file
    assert scan.files == [str(config), *sorted(str(p) for p in (tmp_path / "conf.d").iterdir())]
    assert [d.where for d, _ in scan.directives_for("beta", "user")] == [
        f"{tmp_path}/conf.d/b.conf:2"
    ]


def test_relative_include_is_under_home_ssh(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    _write(tmp_path / ".ssh" / "extra", "Host extra\n")
    scan = scan_config(_write(tmp_path / "config", "Include extra\n"), home=tmp_path)
    assert "extra" in scan.aliases()


def test_include_inside_a_host_block_is_guarded(tmp_path: Path) -> None:
    _write(tmp_path / "inner", "ServerAliveInterval 5\n")
    config = _write(tmp_path / "config", f"Host lab\n  Include {tmp_path}/inner\n")
    scan = scan_config(config, home=tmp_path)
    assert scan.sets("lab", "serveraliveinterval")
    assert not scan.sets("other", "serveraliveinterval")


def test_match_blocks_may_apply(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", "Match host *.x\n  User m\nMatch all\n  Port 2\n")
    scan = scan_config(config, home=tmp_path)
    assert scan.directives_for("any", "user")[0][1] is False  # only ssh can tell
    assert scan.directives_for("any", "port")[0][1] is True
    assert scan.has_match_setting("user")
    assert not scan.has_match_setting("controlpath")


def test_include_misses_and_loops_are_bounded(tmp_path: Path) -> None:
    loop = _write(tmp_path / "loop", f"Include {tmp_path}/loop\n")
    scan = scan_config(
        _write(tmp_path / "config", f"Include {tmp_path}/nothing/*\nInclude {loop}\n"),
        home=tmp_path,
    )
    assert [m.pattern for m in scan.include_misses] == [f"{tmp_path}/nothing/*"]
    assert scan.truncated is not None
    assert len(scan.files) == MAX_DEPTH + 1  # config, then loop at depths 1..MAX_DEPTH


def test_default_roots_are_user_then_system(tmp_path: Path) -> None:
    scan = scan_config(home=tmp_path)
    assert scan.roots == (str(tmp_path / ".ssh" / "config"), "/etc/ssh/ssh_config")
