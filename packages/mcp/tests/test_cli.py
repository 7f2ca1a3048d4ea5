"""``jupyssh mcp tools``: what an agent would get, as the command line shows it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
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


def test_serve_ends_cleanly_on_sigterm(tmp_path: Path) -> None:
    """A client that stops its server with SIGTERM gets a clean exit (the server's
    cleanup, tasks and masters, runs) rather than a death mid-way."""
    settings = tmp_path / "mcp.json"
    settings.write_text('{"audit_log": "%s"}' % (tmp_path / "audit.log"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyssh"), "mcp", "serve", "--settings", str(settings)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={
            "HOME": str(tmp_path),
            "JUPYSSH_HOME": str(tmp_path / "home"),
            "PATH": "/usr/bin:/bin",
        },
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "audit.log").exists():  # the server is up once its log is open
            assert time.monotonic() < deadline, "the server did not start"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
