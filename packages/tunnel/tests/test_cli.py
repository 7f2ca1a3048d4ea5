"""``jupyssh tunnel …`` through the real ``jupyssh`` entry point (no host contacted)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from jupyssh.core.testing import CLIResult, run_cli
from jupyssh.tunnel import wsproxy
from jupyssh.tunnel.reverse import list_tunnels, nohup


def test_the_tunnel_group_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "tunnel", "--help")
    assert code == 0
    for name in ("jupyter", "ws-proxy", "ws-config"):
        assert name in out


def test_ws_config_prints_a_block_without_the_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "never-printed")
    code, out, _ = run_cli(
        capsys, "tunnel", "ws-config", "hub", "https://hub.example/user/me/sshd/"
    )
    assert code == 0
    assert out.startswith("Host hub\n    ProxyCommand ")
    assert " wss://hub.example/user/me/sshd/\n" in out
    assert "never-printed" not in out


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_a_bad_local_port_is_a_usage_error(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, _, err = run_cli(
        capsys, "tunnel", "jupyter", "lab", "--local-port", value, "--no-browser"
    )
    assert code == 2
    assert "--local-port" in err


def test_launch_and_server_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "tunnel", "jupyter", "lab", "--launch", "--server", "http://j:8888/"
    )
    assert code == 3
    assert "exclude each other" in err


def test_stop_without_a_tunnel_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--json", "tunnel", "jupyter", "lab", "--stop")
    assert code == 3
    error = json.loads(out)["error"]
    assert error["kind"] == "tunnel-not-found"
    assert "jupyssh tunnel jupyter lab" in error["hint"]


def test_ws_proxy_without_a_token_fails_before_connecting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    code, _, err = run_cli(capsys, "tunnel", "ws-proxy", "https://192.0.2.1/sshd/")
    assert code == 3
    assert "$JUPYTER_TOKEN is not set" in err


def test_reverse_list_and_remove_without_tunnels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "tunnel", "reverse", "list", "--json")
    assert code == 0
    assert json.loads(out) == []
    code, _, err = run_cli(capsys, "tunnel", "reverse", "remove", "lab")
    assert code == 3
    assert "no reverse tunnel named 'lab'" in err


def test_reverse_add_refuses_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "tunnel", "reverse", "add", "lab", "b", "--remote-port", "2222",
        "--to", "host:notaport",
    )  # fmt: skip
    assert code == 3
    assert "target port is not a number" in err


def _refuse_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """No packet leaves: every connection ws-proxy opens is refused here."""

    def refused(*_args: object, **_kwargs: object) -> socket.socket:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(wsproxy.socket, "create_connection", refused)


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://192.0.2.1:8888/user/me/sshd/", True),
        ("ws://hub.example/user/me/sshd/", True),
        ("https://192.0.2.1/user/me/sshd/", False),
        ("http://127.0.0.1:8888/sshd/", False),
        ("http://[::1]:8888/sshd/", False),
        ("http://localhost:8888/sshd/", False),
    ],
)
def test_finding_19d_ws_proxy_warns_once_about_cleartext(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, warned: bool
) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "never-printed")
    _refuse_connections(monkeypatch)
    code, _, err = run_cli(capsys, "tunnel", "ws-proxy", url)
    assert code == 4
    assert "cannot connect" in err
    assert err.count("cleartext") == (1 if warned else 0)
    assert "never-printed" not in err


def test_finding_1_jupyter_prints_the_url_without_its_token(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fake_ssh: Any,
    fake_jupyter: Any,
    browser_argv: Path,
) -> None:
    fake_jupyter.write_record(tmp_path / "remote-runtime")
    code, out, err = run_cli(capsys, "tunnel", "jupyter", "lab")
    assert code == 0
    assert "opened in the browser" in out
    assert re.search(r"^http://127\.0\.0\.1:\d+/$", out, re.MULTILINE)
    assert fake_jupyter.token not in out + err
    assert fake_jupyter.token not in browser_argv.read_text()
    code, out, _ = run_cli(capsys, "tunnel", "jupyter", "lab", "--stop", "--json")
    assert code == 0
    assert json.loads(out)["alias"] == "lab"
    assert fake_ssh.operations()[-1] == "exit"


def test_jupyter_show_token_prints_the_url_with_its_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / "remote-runtime")
    code, out, _ = run_cli(capsys, "tunnel", "jupyter", "lab", "--no-browser", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["url_with_token"] == f"{data['url']}?token={fake_jupyter.token}"
    assert data["open_file"] is None
    run_cli(capsys, "tunnel", "jupyter", "lab", "--stop")


def test_ws_config_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "tunnel", "ws-config", "hub", "https://hub.example/user/me/sshd", "--user", "me",
        "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["alias"] == "hub"
    assert data["url"] == "wss://hub.example/user/me/sshd/"
    assert data["user"] == "me"
    assert data["config"].startswith("Host hub\n")


def _add_nohup(capsys: pytest.CaptureFixture[str], *argv: str) -> CLIResult:
    """``reverse add`` in the nohup scope, without the trial connection: nothing leaves."""
    return run_cli(
        capsys, "tunnel", "reverse", "add", *argv, "--remote-port", "2222", "--scope", "nohup",
        "--no-check",
    )  # fmt: skip


def test_reverse_add_takes_the_alias_positionally_and_via_with_a_deprecation_line(
    capsys: pytest.CaptureFixture[str], fake_ssh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(nohup, "start_loop", lambda spec: started.append(spec.via))
    code, out, err = _add_nohup(capsys, "lab", "bastion", "--json")
    assert code == 0, err
    assert json.loads(out)["via"] == "bastion"
    assert "deprecated" not in err
    code, out, err = _add_nohup(capsys, "lab2", "--via", "bastion2", "--json")
    assert code == 0, err
    assert json.loads(out)["via"] == "bastion2"
    assert err.count("\n") == 1
    assert err == "jupyssh: --via is deprecated; use: jupyssh tunnel reverse add NAME ALIAS\n"
    assert started == ["bastion", "bastion2"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["lab"], "missing ALIAS"),
        (["lab", "a", "--via", "b"], "ALIAS and --via disagree"),
    ],
)
def test_reverse_add_without_one_alias_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, _, err = _add_nohup(capsys, *argv)
    assert code == 2
    assert words in err


def test_reverse_add_user_is_deprecated_for_run_as(
    capsys: pytest.CaptureFixture[str], fake_ssh: Any
) -> None:
    code, _, err = _add_nohup(capsys, "lab", "bastion", "--user", "someone-else")
    assert "jupyssh: --user is deprecated; use: jupyssh tunnel reverse add … --run-as USER" in err
    assert code == 3
    assert "--run-as is for system scope" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--remote-bind", "127.0.0.1\nExecStartPre=/bin/touch /tmp/pwned"),
        ("--remote-bind", "0.0.0.0 -oProxyCommand=x"),
        ("--run-as", "root\nExecStartPost=/bin/sh"),
    ],
)
def test_finding_11_reverse_add_refuses_hostile_options(
    capsys: pytest.CaptureFixture[str], fake_ssh: Any, option: str, value: str
) -> None:
    code, _, err = _add_nohup(capsys, "lab", "bastion", option, value)
    assert code == 3
    assert "not a" in err or "--run-as is for system scope" in err
    assert list_tunnels() == []
