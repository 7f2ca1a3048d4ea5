"""The jupyssh command: versions, plugins, the one-line errors and --json."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from jupyssh.core import cli as cli_module
from jupyssh.core import testing
from jupyssh.core.testing import run_cli


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # -v installs a handler on the root logger bound to this test's captured stderr;
    # left behind, later tests' log lines would go to a closed stream.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("jupyssh").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("jupyssh").setLevel(ours)


def test_version_lists_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert "jupyssh-core 0.1.0" in out.splitlines()
    assert "jupyssh-integration" not in out


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--json", "--version")
    assert code == 0
    assert json.loads(out)["jupyssh-core"] == "0.1.0"


def test_host_group_comes_from_the_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "host" in out


def test_typed_error_is_one_line_with_its_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "host", "resolve", "-F", str(tmp_path / "absent"), "lab")
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("jupyssh: error: ssh cannot resolve lab")
    assert "Traceback" not in err


def test_typed_error_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(
        capsys, "host", "resolve", "-F", str(tmp_path / "absent"), "lab", "--json"
    )
    assert code == 3
    document = json.loads(out)
    assert document["ok"] is False
    assert document["error"]["kind"] == "config"
    assert document["error"]["exit_code"] == 3


def test_traceback_only_at_vvv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "-vvv", "host", "resolve", "-F", str(tmp_path / "absent"), "lab")
    assert code == 3
    assert "Traceback" in err


def test_resolve_json_lists_hops(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host t\n  HostName 10.0.0.2\n  ProxyJump j\nHost j\n  User u\n")
    code, out, _ = run_cli(capsys, "host", "resolve", "t", "-F", str(cfg), "--json")
    assert code == 0
    hops = json.loads(out)
    assert [hop["spec"] for hop in hops] == ["j", "t"]
    assert hops[0]["user"] == "u"
    assert hops[1]["via"] == ["j"]


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "host", "resolve")
    assert code == 2
    assert "Missing argument" in err


def test_broken_plugin_is_reported_without_breaking_the_rest(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    broken = EntryPoint("broken", "jupyssh.nonexistent.module:group", cli_module.ENTRY_POINT_GROUP)
    real = cli_module._plugins()
    monkeypatch.setattr(cli_module, "_plugins", lambda: {**real, "broken": broken})
    code, _, err = run_cli(capsys, "broken")
    assert code == 3
    assert "the 'broken' commands failed to load" in err
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "broken" in out


def test_unexpected_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @click.command()
    def boom() -> None:
        raise ZeroDivisionError("x")

    real = cli_module._plugins()
    monkeypatch.setattr(cli_module.PluginGroup, "get_command", lambda *_: boom)
    assert real  # the real registry is untouched
    code, _, err = run_cli(capsys, "boom")
    assert code == 70  # EX_SOFTWARE: 1 means a check found problems
    assert err.startswith("jupyssh: error: unexpected error: ZeroDivisionError")
    code, out, _ = run_cli(capsys, "--json", "boom")
    assert code == 70
    assert json.loads(out)["error"] == {
        "kind": "internal",
        "message": "ZeroDivisionError('x')",
        "exit_code": 70,
    }


def test_run_cli_follows_sys_exit_rules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def exits_with(code: object) -> None:
        raise SystemExit(code)

    for code, status in ((None, 0), (4, 4), ("a message", 1)):
        monkeypatch.setattr(testing, "main", lambda _argv, code=code: exits_with(code))
        assert run_cli(capsys, "anything").code == status
