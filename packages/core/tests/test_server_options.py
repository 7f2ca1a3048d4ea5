"""The serve commands' shared options: --listen, the limits, the Jupyter URL and the
check of the Jupyter server made before listening."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jupyssh.core.errors import ConfigError, JupyterAuthError, JupyterError
from jupyssh.core.server import MaxStartups, ServerConfig
from jupyssh.core.server.options import connect_jupyter, parse_listen, server_options
from jupyssh.core.testing import JSONHandler, serve_http, url_of

# --- --listen ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:2022", ("127.0.0.1", 2022)),
        ("2022", ("127.0.0.1", 2022)),
        (" 2200 ", ("127.0.0.1", 2200)),
        ("[::1]:0", ("::1", 0)),
        ("[::1]:22", ("::1", 22)),
        (":0", ("127.0.0.1", 0)),
        ("localhost:22", ("localhost", 22)),
        ("0.0.0.0:2222", ("0.0.0.0", 2222)),  # noqa: S104 - parsed, not bound
    ],
)
def test_parse_listen(given: str, expected: tuple[str, int]) -> None:
    assert parse_listen(given) == expected


@pytest.mark.parametrize(
    "given",
    ["x", "host:", "host:port", "1.2.3.4:99999", "127.0.0.1:", "[::1]2022", "[::1", "", "-1"],
)
def test_parse_listen_refuses(given: str) -> None:
    with pytest.raises(ConfigError, match="port") as info:
        parse_listen(given)
    assert info.value.hint


# --- the options ------------------------------------------------------------------------------


@click.command()
@server_options(default_port=2022)
def show(*, jupyter_url: str, server_config: ServerConfig) -> None:
    click.echo(json.dumps({"url": jupyter_url, **server_config.__dict__}, default=str))


def _config(*argv: str) -> dict[str, object]:
    result = CliRunner().invoke(show, ["--jupyter-url", "http://127.0.0.1:1/", *argv])
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


def test_defaults_are_the_server_configs_own() -> None:
    config = _config()
    defaults = ServerConfig(port=2022)
    assert config == {
        "url": "http://127.0.0.1:1/",
        **json.loads(json.dumps(defaults.__dict__, default=str)),
    }
    assert config["max_startups"] == [10, 30, 100]  # a NamedTuple in JSON
    assert config["idle_timeout"] == 600.0


def test_every_option_reaches_the_server_config(tmp_path: Path) -> None:
    config = _config(
        "--listen",
        "[::1]:0",
        "--authorized-keys",
        str(tmp_path / "ak"),
        "--host-key",
        str(tmp_path / "hk"),
        "--allow-non-loopback",
        "--max-connections",
        "3",
        "--max-startups",
        "5:50:20",
        "--max-startups-per-source",
        "2",
        "--login-grace-time",
        "7.5",
        "--idle-timeout",
        "0",
        "--max-channels",
        "4",
    )
    assert config == {
        "url": "http://127.0.0.1:1/",
        "host": "::1",
        "port": 0,
        "allow_non_loopback": True,
        "host_key": str(tmp_path / "hk"),
        "authorized_keys": str(tmp_path / "ak"),
        "insecure_no_auth": False,
        "max_connections": 3,
        "max_startups": list(MaxStartups(5, 50, 20)),
        "max_startups_per_source": 2,
        "login_grace_time": 7.5,
        "idle_timeout": None,  # 0: never
        "max_channels": 4,
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-startups", "10:30:5"], "FULL must be at least START"),
        (["--max-startups", "lots"], "START:RATE:FULL"),
        (["--max-channels", "0"], "--max-channels"),
        (["--login-grace-time", "0"], "--login-grace-time"),
        (["--idle-timeout", "-1"], "--idle-timeout"),
    ],
)
def test_bad_limits_are_usage_errors(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(show, ["--jupyter-url", "http://127.0.0.1:1/", *argv])
    assert result.exit_code == 2
    assert message in result.output


def test_help_names_every_limit_and_recommends_the_environment_for_the_token() -> None:
    text = CliRunner().invoke(show, ["--help"]).output
    for option in (
        "--max-startups",
        "--max-startups-per-source",
        "--login-grace-time",
        "--idle-timeout",
        "--max-channels",
        "--max-connections",
        "127.0.0.1:2022",
    ):
        assert option in text
    assert "$JUPYTER_TOKEN" in text
    assert "?token=…" not in text


# --- the Jupyter server, checked before listening ------------------------------------------------


class FakeJupyter(JSONHandler):
    """``/api`` for anyone, ``/api/status`` and ``/api/kernelspecs`` with the token."""

    token = "right"

    def do_GET(self) -> None:
        if self.path == "/api":
            self.answer(200, {"version": "2.99"})
        elif self.headers.get("Authorization") != f"token {self.token}":
            self.answer(403, {"message": "Forbidden"})
        elif self.path == "/api/status":
            self.answer(200, {"started": "s", "last_activity": "l", "connections": 0})
        elif self.path == "/api/kernelspecs":
            self.answer(200, {"default": "python3", "kernelspecs": {"python3": {}, "ir": {}}})
        else:
            self.answer(404, {"message": "Not Found"})


@pytest.fixture
def jupyter_url() -> Iterator[str]:
    with serve_http(FakeJupyter) as server:
        yield url_of(server)


def test_a_working_server_and_token_pass(jupyter_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "right")
    client, facts = connect_jupyter(jupyter_url, kernel_name="ir", kernels=True)
    assert client.base_url == jupyter_url
    assert (facts.version, facts.kernel_names, facts.default_kernel) == (
        "2.99",
        ("ir", "python3"),
        "python3",
    )


def test_finding_13_a_wrong_token_is_refused_before_listening(
    jupyter_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/api`` answers anyone: only an authenticated request proves the token."""
    monkeypatch.setenv("JUPYTER_TOKEN", "wrong")
    with pytest.raises(JupyterAuthError, match="status failed"):
        connect_jupyter(jupyter_url)


def test_finding_13_an_unknown_kernel_spec_is_refused(
    jupyter_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "right")
    with pytest.raises(ConfigError, match="no kernel spec 'julia'") as info:
        connect_jupyter(jupyter_url, kernel_name="julia", kernels=True)
    assert info.value.hint == "use one of: ir, python3"


def test_finding_13_an_unreachable_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "right")
    with pytest.raises(JupyterError, match="cannot connect"):
        connect_jupyter("http://127.0.0.1:1/")


def test_finding_10_a_token_in_the_url_is_warned_about(
    jupyter_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    caplog.set_level(logging.WARNING, logger="jupyssh")
    connect_jupyter(f"{jupyter_url}?token=right")
    (record,) = caplog.records
    assert "$JUPYTER_TOKEN" in record.getMessage()
    assert "right" not in record.getMessage()

    caplog.clear()
    monkeypatch.setenv("JUPYTER_TOKEN", "right")
    connect_jupyter(jupyter_url)
    assert caplog.records == []
