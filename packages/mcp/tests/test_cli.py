"""``jupyssh mcp tools``: what an agent would get, as the command line shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyssh.core.testing import run_cli


def test_tools_lists_core_tools_and_the_allowlist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "mcp.json"
    settings.write_text('{"allow": ["lab"]}')
    code, out, _err = run_cli(capsys, "mcp", "tools", "--settings", str(settings), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["allow"] == ["lab"]
    tools = {tool["name"]: tool["read_only"] for tool in shown["tools"]}
    assert tools["hosts_list"] is True
    assert tools["command_run"] is False


def test_a_missing_settings_file_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, err = run_cli(capsys, "mcp", "tools", "--settings", str(tmp_path / "no.json"))
    assert code == 3
    assert "MCP config file not found" in err
