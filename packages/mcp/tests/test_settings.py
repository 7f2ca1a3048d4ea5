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


def test_files_roots_and_jupyter_servers_are_read_tokens_from_files_or_the_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "lab.token"
    token_file.write_text("from-a-file\n")
    path = tmp_path / "mcp.json"
    path.write_text(
        '{"roots": {"lab": "/data"}, "max_write_bytes": 5, "jupyter_servers": {'
        f'"lab": {{"url": "http://127.0.0.1:8888/", "token_file": "{token_file}"}},'
        '"hub": {"url": "http://127.0.0.1:9999/", "token_env": "HUB_TOKEN"}}}'
    )
    settings = load_settings(path)
    assert settings.roots == {"lab": "/data"}
    assert settings.max_write_bytes == 5
    assert settings.jupyter_server("lab").token() == "from-a-file"
    with pytest.raises(ConfigError, match="HUB_TOKEN holding the token is not set"):
        settings.jupyter_server("hub").token()
    monkeypatch.setenv("HUB_TOKEN", "from-the-env")
    assert settings.jupyter_server("hub").token() == "from-the-env"
    with pytest.raises(ConfigError, match="not in the MCP settings"):
        settings.jupyter_server("other")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"jupyter_servers": {"a": {"url": "http://h/?token=abc"}}}', "the URL holds a token"),
        ('{"jupyter_servers": {"a": {"url": "http://h/", "token": "x"}}}', "never inline"),
        ('{"jupyter_servers": {"a": {}}}', 'needs a "url"'),
        ('{"roots": {"lab": "relative"}}', "absolute folders"),
        ('{"max_write_bytes": 0}', "positive integer"),
    ],
)
def test_a_bad_files_setting_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)
