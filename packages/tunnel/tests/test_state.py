"""The tunnel record: private, round-trips, and says what to do when it is unreadable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.tunnel.jupyter.state import JupyterTunnelState, state_key, state_path


def _state(config: str | None = None) -> JupyterTunnelState:
    return JupyterTunnelState(
        alias="lab",
        config_file=config,
        control_path="/run/x/tj-1",
        local_host="127.0.0.1",
        local_port=43210,
        remote="/home/u/.cache/jupyssh/tunnel/jupyter-abc.sock",
        base_url="/",
        scheme="http",
        server_pid=99,
        launch_id="abc",
    )


def test_a_record_round_trips_privately(private_home: Path) -> None:
    state = _state()
    path = state.save()
    assert path.is_relative_to(private_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert JupyterTunnelState.load("lab", None) == state
    assert state.url == "http://127.0.0.1:43210/"
    assert state.to_dict()["launched"] is True
    state.delete()
    assert JupyterTunnelState.load("lab", None) is None


def test_the_key_depends_on_the_config_file(tmp_path: Path) -> None:
    assert state_key("lab", None) != state_key("lab", str(tmp_path / "cfg"))
    assert state_key("lab", str(tmp_path / "cfg")) == state_key("lab", str(tmp_path / "cfg"))


def test_an_unreadable_record_is_a_config_error() -> None:
    path = state_path(state_key("lab", None))
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable tunnel record"):
        JupyterTunnelState.load("lab", None)
