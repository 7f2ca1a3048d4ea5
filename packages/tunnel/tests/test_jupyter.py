"""``tunnel jupyter`` (``open_jupyter`` / ``stop_jupyter``) against a fake ssh and a fake
Jupyter server: no containers, nothing beyond 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyssh.core.errors import JupyterAuthError, JupyterError, SSHError
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
    fake_ssh.stop_master()
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


def test_an_unreachable_host_is_its_ssh_error(fake_ssh: Any) -> None:
    fake_ssh.answer(255, "lab: Permission denied (publickey).\r\n")
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


def _jupyter_on_login_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The "remote" login shell finds this venv's jupyter (as ~/.profile would on a host),
    and the server's config and data stay in the test's folder. Returns the remote home:
    a short path, as the server's socket in it must fit a Unix socket's 107 bytes."""
    home = Path(tempfile.mkdtemp(prefix="jt-home-"))
    monkeypatch.setenv("HOME", str(home))
    venv_bin = Path(sys.executable).parent
    (home / ".profile").write_text(f'PATH="{venv_bin}:$PATH"; export PATH\n')
    config = tmp_path / "jupyter-config"
    config.mkdir()
    # Where the tests run as root (containers), jupyter server refuses to start without it.
    (config / "jupyter_server_config.json").write_text('{"ServerApp": {"allow_root": true}}')
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / RUNTIME))
    return home


def test_launch_starts_a_server_on_a_socket_and_stop_ends_it(
    tmp_path: Path, fake_ssh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("jupyter_server is a test dependency: jupyter must be in the venv")
    home = _jupyter_on_login_path(tmp_path, monkeypatch)
    try:
        opened = asyncio.run(open_jupyter("lab", launch=True, browser=False))
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    try:
        assert opened.state.launch_id is not None
        assert opened.record.sock.endswith(f"jupyter-{opened.state.launch_id}.sock")
        assert _status(opened.url, opened.token) == 200
        assert _status(opened.url, "wrong") == 403
        forward = next(op for op in fake_ssh.operations() if op.startswith("forward"))
        assert forward.endswith(f":{opened.record.sock}")  # a Unix socket, no TCP port
        # The generated token went over stdin: no ssh argv holds it.
        assert not any(opened.token in " ".join(argv) for argv in fake_ssh.calls())
    finally:
        stopped = asyncio.run(stop_jupyter("lab"))
        leftovers = sorted(p.name for p in (home / ".cache/jupyssh/tunnel").iterdir())
        shutil.rmtree(home, ignore_errors=True)
    assert leftovers == []  # socket and log removed
    assert stopped.launched
    assert stopped.server_stopped
    assert not Path(opened.record.sock).exists()
    assert not Path(opened.record.path).exists()  # the server removed its record
    assert not fake_ssh.master_running


def test_launch_without_jupyter_on_the_login_path_says_so(
    tmp_path: Path, fake_ssh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / RUNTIME))
    (tmp_path / "remote-home").mkdir()
    (tmp_path / "remote-home" / ".profile").write_text("PATH=/usr/bin:/bin; export PATH\n")
    with pytest.raises(JupyterError, match="`jupyter` is not on PATH in a login shell") as failed:
        asyncio.run(open_jupyter("lab", launch=True, browser=False))
    assert "~/.profile" in (failed.value.hint or "")
    assert not fake_ssh.master_running
    assert JupyterTunnelState.load("lab", None) is None
