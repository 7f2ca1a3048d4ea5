"""``tunnel jupyter`` (``open_jupyter`` / ``stop_jupyter``) against a fake ssh and a fake
Jupyter server: no containers, nothing beyond 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyssh.core.errors import JupyterAuthError, SSHError
from jupyssh.tunnel.errors import NoJupyterServerError, TunnelExistsError, TunnelNotFoundError
from jupyssh.tunnel.jupyter import open_jupyter, stop_jupyter
from jupyssh.tunnel.jupyter.state import JupyterTunnelState

RUNTIME = "remote-runtime"


def _status(url: str, token: str) -> int:
    return httpx.get(
        f"{url}api/status", headers={"Authorization": f"token {token}"}, timeout=10
    ).status_code


def test_open_forwards_to_the_recorded_server_and_stop_undoes_everything(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME)
    opened = asyncio.run(open_jupyter("lab", browser=False))
    assert opened.url == f"http://127.0.0.1:{opened.state.local_port}/"
    assert opened.token == fake_jupyter.token
    assert _status(opened.url, fake_jupyter.token) == 200  # through the relay
    assert ("/api/status", f"token {fake_jupyter.token}") in fake_jupyter.requests
    spec = f"127.0.0.1:{opened.state.local_port}:127.0.0.1:{fake_jupyter.port}"
    assert fake_ssh.operations() == ["check", "check", "check", f"forward {spec}"]
    assert fake_ssh.master_running
    assert JupyterTunnelState.load("lab", None) is not None
    # The token never went into any ssh argv.
    assert not any(fake_jupyter.token in " ".join(argv) for argv in fake_ssh.calls())

    stopped = asyncio.run(stop_jupyter("lab"))
    assert stopped.url == opened.url
    assert not stopped.launched
    assert fake_ssh.operations()[-2:] == [f"cancel {spec}", "exit"]
    assert not fake_ssh.master_running
    assert fake_ssh.forwards() == []
    assert JupyterTunnelState.load("lab", None) is None
    with pytest.raises(httpx.TransportError):
        _status(opened.url, fake_jupyter.token)


def test_a_second_open_while_the_first_lives_is_refused(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME)
    opened = asyncio.run(open_jupyter("lab", browser=False))
    with pytest.raises(TunnelExistsError, match="already open") as refused:
        asyncio.run(open_jupyter("lab", browser=False))
    assert "--stop" in (refused.value.hint or "")
    assert len(fake_ssh.forwards()) == 1
    assert _status(opened.url, fake_jupyter.token) == 200
    asyncio.run(stop_jupyter("lab"))


def test_a_dead_recorded_tunnel_is_cleaned_up_and_reopened(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME)
    first = asyncio.run(open_jupyter("lab", browser=False))
    (fake_ssh.state / "master").unlink()  # the master died (reboot, kill)
    second = asyncio.run(open_jupyter("lab", browser=False))
    assert _status(second.url, fake_jupyter.token) == 200
    assert JupyterTunnelState.load("lab", None) == second.state
    assert first.state.control_path == second.state.control_path
    asyncio.run(stop_jupyter("lab"))


def test_a_refused_token_undoes_the_forward_and_the_master(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME, token="wrong")
    with pytest.raises(JupyterAuthError):
        asyncio.run(open_jupyter("lab", browser=False))
    moves = [op.split()[0] for op in fake_ssh.operations() if op != "check"]
    assert moves[:3] == ["forward", "cancel", "exit"]
    assert not fake_ssh.master_running
    assert fake_ssh.forwards() == []
    assert JupyterTunnelState.load("lab", None) is None


def test_no_live_record_is_a_typed_error_and_leaves_no_master(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME, pid=4194303)  # pid_max: not running
    with pytest.raises(NoJupyterServerError, match="no Jupyter server runs") as refused:
        asyncio.run(open_jupyter("lab", browser=False))
    assert "--launch" in (refused.value.hint or "")
    assert str(tmp_path / RUNTIME) in refused.value.message
    assert not fake_ssh.master_running
    assert not any(op.startswith("forward") for op in fake_ssh.operations())


def test_a_server_that_does_not_answer_is_skipped_for_the_next(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any
) -> None:
    # Two live pids: the newer (higher) one's record names a port nothing listens on.
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    try:
        good, stale = sorted(p.pid for p in sleepers)
        runtime = tmp_path / RUNTIME
        fake_jupyter.write_record(runtime, pid=good)
        record = json.loads((runtime / f"jpserver-{good}.json").read_text())
        record.update(pid=stale, port=_unused_port())
        (runtime / f"jpserver-{stale}.json").write_text(json.dumps(record))
        opened = asyncio.run(open_jupyter("lab", browser=False, probe_timeout=0.5))
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait(10)
    assert opened.record.pid == good
    moves = [op.split()[0] for op in fake_ssh.operations() if op.split()[0] != "check"]
    assert moves == ["forward", "cancel", "forward"]
    assert _status(opened.url, fake_jupyter.token) == 200
    asyncio.run(stop_jupyter("lab"))


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_host_is_its_ssh_error(
    fake_ssh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_REFUSE", "lab: Permission denied (publickey).")
    with pytest.raises(SSHError) as failed:
        asyncio.run(open_jupyter("lab", browser=False))
    assert failed.value.exit_code == 5  # auth
    assert JupyterTunnelState.load("lab", None) is None


def test_stop_without_a_tunnel(fake_ssh: Any) -> None:
    with pytest.raises(TunnelNotFoundError):
        asyncio.run(stop_jupyter("lab"))
    assert fake_ssh.calls() == []


def test_finding_1_the_browser_gets_a_private_redirect_file_not_the_token(
    tmp_path: Path, fake_ssh: Any, fake_jupyter: Any, browser_argv: Path
) -> None:
    fake_jupyter.write_record(tmp_path / RUNTIME)
    opened = asyncio.run(open_jupyter("lab"))
    assert opened.browser_opened
    argv = browser_argv.read_text().splitlines()
    assert fake_jupyter.token not in " ".join(argv)
    assert opened.open_file is not None
    page = Path(opened.open_file)
    assert argv == [page.as_uri()]
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    html = page.read_text()
    assert f'content="0;url={opened.url_with_token}"' in html
    assert opened.url_with_token == f"{opened.url}?token={fake_jupyter.token}"
    assert fake_jupyter.token not in json.dumps(opened.to_dict())

    asyncio.run(stop_jupyter("lab"))
    assert not page.exists()
