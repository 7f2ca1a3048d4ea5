"""The settings file: an allowlist the user writes; nothing reachable without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.mcp.hosts import config_aliases
from jupyssh.mcp.settings import load_settings


def test_no_file_means_an_empty_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYSSH_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.allow == frozenset()
    with pytest.raises(ConfigError, match="not on the MCP allowlist"):
        settings.check_alias("lab")


def test_a_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"allow": ["lab", "hpc"], "read_only": true, "max_output_bytes": 10}')
    settings = load_settings(path)
    assert settings.allow == {"lab", "hpc"}
    assert settings.read_only
    assert settings.max_output_bytes == 10
    assert settings.source == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "must be a JSON object"),
        ('{"allow": "lab"}', "list of ssh aliases"),
        ('{"allowed": ["lab"]}', "unknown key"),
        ('{"read_only": "yes"}', "true or false"),
        ('{"max_output_bytes": 0}', "positive integer"),
        ("{", "cannot read"),
    ],
)
def test_a_bad_file_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.json")


def test_aliases_come_from_host_lines_and_includes(tmp_path: Path) -> None:
    (tmp_path / "more").write_text("Host extra\n")
    config = tmp_path / "config"
    config.write_text(
        f"Include {tmp_path}/more\nHost lab lab2 *.corp !bad\n  User x\nHost=eq\nhost lab\n"
    )
    assert config_aliases(str(config)) == ["extra", "lab", "lab2", "eq"]
