"""``jupyssh sshconfig …`` through the real ``jupyssh`` entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyssh.core.testing import run_cli

GOOD = """\
Host good
    HostName 192.0.2.10
    User alice
    IdentityFile {key}
    IdentitiesOnly yes
    BatchMode yes
    ControlMaster auto
    ControlPath {dir}/cm-%C
    ControlPersist 10m
    ServerAliveInterval 15
    ConnectTimeout 10
    StrictHostKeyChecking accept-new
Host broken
    HostName 192.0.2.11
    User alice
    IdentityFile {dir}/missing-key
"""


@pytest.fixture
def config(short_tmp: Path, keys: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "160")
    path = short_tmp / "config"
    path.write_text(GOOD.format(key=keys.path("clear"), dir=short_tmp))
    path.chmod(0o600)
    return str(path)


def test_group_is_plugged_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "sshconfig" in out
    code, out, _ = run_cli(capsys, "--version")
    assert "jupyssh-sshconfig 0.1.0" in out.splitlines()


def test_good_alias_exits_0(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run_cli(capsys, "sshconfig", "check", "good", "-F", config, "--role", "kernel")
    assert code == 0
    assert "will carry it" in out
    assert "passed for good" in out


def test_broken_alias_exits_1_with_a_table(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run_cli(capsys, "sshconfig", "check", "broken", "-F", config, "--role", "kernel")
    assert code == 1
    assert "JS105" in out
    assert "missing-key" in out
    assert "will NOT carry it" in out


def test_json_output(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run_cli(capsys, "sshconfig", "check", "broken", "-F", config, "--json")
    assert code == 0  # for a person at a terminal a missing key is a warning: ssh may prompt
    document = json.loads(out)
    assert document["schema"] == "jupyssh.sshconfig/1"
    assert document["alias"] == "broken"
    assert document["role"] == "client"
    code, out, _ = run_cli(
        capsys, "sshconfig", "check", "broken", "-F", config, "--json", "--role", "kernel"
    )
    assert code == 1
    assert json.loads(out)["ok"] is False
    assert any(f["code"] == "JS105" for f in document["findings"])


def test_verbose_shows_passed_rows(capsys: pytest.CaptureFixture[str], config: str) -> None:
    _, out, _ = run_cli(
        capsys, "sshconfig", "check", "good", "-F", config, "-v", "--role", "kernel"
    )
    assert "JS201" in out
    assert "ControlMaster is auto" in out


def test_suggest_prints_and_writes(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run_cli(
        capsys, "sshconfig", "suggest", "broken", "-F", config, "--role", "tunnel"
    )
    assert code == 0
    assert "Host broken-tunnel" in out
    assert "ExitOnForwardFailure yes" in out
    assert "Host broken-tunnel" not in Path(config).read_text()
    code, out, _ = run_cli(
        capsys, "sshconfig", "suggest", "broken", "-F", config, "--role", "tunnel", "--write"
    )
    assert code == 0
    assert "appended Host broken-tunnel" in out
    assert "Host broken-tunnel" in Path(config).read_text()


def test_suggest_refuses_to_write_an_overridden_block(
    capsys: pytest.CaptureFixture[str], short_tmp: Path
) -> None:
    path = short_tmp / "config"
    path.write_text("Host *\n    ControlMaster no\nHost lab\n    HostName 192.0.2.1\n")
    path.chmod(0o600)
    code, _, err = run_cli(capsys, "sshconfig", "suggest", "lab", "-F", str(path), "--write")
    assert code == 3
    assert "override ControlMaster" in err
    assert "lab-kernel" not in path.read_text()


def test_rules_lists_every_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "sshconfig", "rules", "--json")
    assert code == 0
    rows = json.loads(out)
    codes = [row["code"] for row in rows]
    assert codes == sorted(codes)
    assert {"JS101", "JS207", "JS304", "JS401", "JS501", "JS601"} <= set(codes)
