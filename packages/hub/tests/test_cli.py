"""``jupyssh hub serve``: its options, and the one line a service without its hub gets."""

from __future__ import annotations

import pytest

from jupyssh.core.server import MaxStartups, ServerConfig
from jupyssh.core.testing import run_cli
from jupyssh.hub import cli
from jupyssh.hub.server import AUTH_TIMEOUT


def test_serve_without_the_hubs_token_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:8000/hub/api")

    code, out, err = run_cli(capsys, "hub", "serve", "--listen", "127.0.0.1:0")

    assert code == 3
    assert out == ""
    assert "JUPYTERHUB_API_TOKEN" in err
    assert len(err.strip().splitlines()) <= 2  # the line, and its hint


def test_serve_help_names_the_role_the_service_needs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "hub", "serve", "--help")

    assert code == 0
    text = " ".join(out.split())
    for scope in ("read:users:name", "read:servers", "servers", "access:servers"):
        assert scope in text
    assert "--hub-api-url" in text
    assert "--proxy-url" in text


# --- the server's options: core's, as bridge serve and sftp serve have them ----------------


class _Stop(Exception):
    """Raised by the stand-in HubServer: the test has what it came for (the command then
    ends as on any unexpected error, with its status 70)."""


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[ServerConfig]:
    """The ServerConfig each `hub serve` hands its HubServer (which then stops the run)."""
    configs: list[ServerConfig] = []

    def stand_in(_service: object, config: ServerConfig, *_args: object) -> None:
        configs.append(config)
        raise _Stop

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t" * 32)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:8000/hub/api")
    monkeypatch.setattr(cli, "HubServer", stand_in)
    return configs


def _serve(capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    code, _, err = run_cli(capsys, "hub", "serve", *argv)
    assert code == 70, err


def test_serve_takes_cores_server_limits(
    capsys: pytest.CaptureFixture[str], made: list[ServerConfig]
) -> None:
    _serve(
        capsys,
        "--listen", "127.0.0.1:0",
        "--max-connections", "5",
        "--max-startups", "3:50:9",
        "--max-startups-per-source", "2",
        "--idle-timeout", "30",
        "--max-channels", "7",
        "--login-grace-time", "9",
    )  # fmt: skip

    (config,) = made
    assert (config.host, config.port) == ("127.0.0.1", 0)
    assert config.max_connections == 5
    assert config.max_startups == MaxStartups(3, 50, 9)
    assert config.max_startups_per_source == 2
    assert config.idle_timeout == 30
    assert config.max_channels == 7
    assert config.login_grace_time == 9


def test_login_grace_time_covers_a_servers_start_unless_given(
    capsys: pytest.CaptureFixture[str], made: list[ServerConfig]
) -> None:
    _serve(capsys, "--start-timeout", "120")
    _serve(capsys, "--no-start-servers")
    assert [config.login_grace_time for config in made] == [AUTH_TIMEOUT + 120, AUTH_TIMEOUT]
    assert made[0].max_channels == ServerConfig().max_channels


@pytest.mark.parametrize("option", ["--jupyter-url", "--authorized-keys"])
def test_one_servers_options_are_not_the_hubs(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    code, _, err = run_cli(capsys, "hub", "serve", option, "x")

    assert code == 2
    assert f"No such option {option!r}" in err or f"No such option: {option}" in err
