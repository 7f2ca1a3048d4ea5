"""``jupyssh tunnel jupyter`` against a real sshd + jupyter server container (issue #7, item 3).

The server listens on 127.0.0.1 inside the container: only the forward reaches it. The
browser is a script that records the URLs it is handed.
"""

from __future__ import annotations

import html
import json
import re
import socket
import stat
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from jupyssh_harness import SSHContainer

from .conftest import RUNTIME_DIR, Browser, Jupyssh, JupyterHost


def _status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(url.rstrip("/") + "/api/status", headers=headers).status_code


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _masters(home: Path) -> list[str]:
    """Control sockets left in JUPYSSH_HOME's runtime folder."""
    run = home / "run"
    return sorted(p.name for p in run.iterdir()) if run.is_dir() else []


def _redirect_target(handed: str) -> str:
    """Where the private page handed to the browser (``file://``, 0600) redirects."""
    assert handed.startswith("file://"), handed
    page = Path(unquote(urlsplit(handed).path))
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    match = re.search(r'content="0;url=([^"]+)"', page.read_text())
    assert match is not None
    return html.unescape(match.group(1))


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def test_finds_the_running_server_and_opens_the_browser_with_its_token(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, browser: Browser, jupyssh_home: Path
) -> None:
    # A record of a server on another node sharing this home (pid not alive here): the
    # discovery must neither pick it nor delete it, as `jupyter server list` would.
    other = f"{RUNTIME_DIR}/jpserver-999999.json"
    jupyter_host.exec(
        ["sh", "-c", f'printf \'{{"pid": 999999, "port": 9999, "token": "x"}}\' > {other}']
    )
    cfg = str(jupyter_host.config_file)
    try:
        data = _json(jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--json"))
        url = str(data["url"])
        assert url.startswith("http://127.0.0.1:")
        assert jupyter_host.token not in json.dumps(data)  # never printed without asking
        assert data["browser_opened"] is True
        assert data["launched"] is False
        [handed] = browser.urls()
        assert jupyter_host.token not in handed  # finding 1: never in the browser's argv
        target = _redirect_target(handed)
        assert target.startswith(url)
        assert parse_qs(urlsplit(target).query)["token"] == [jupyter_host.token]
        assert _status(url, jupyter_host.token) == 200
        assert _status(url, "wrong-token") == 403
        assert other.rsplit("/", 1)[1] in jupyter_host.runtime_files()

        again = jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--no-browser")
        assert again.returncode == 3
        assert "already open" in again.stderr
        assert "--stop" in again.stderr
    finally:
        stopped = jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--stop", "--json")
        jupyter_host.exec(["rm", "-f", other])
    facts = _json(stopped)
    assert facts["launched"] is False
    port = int(urlsplit(url).port or 0)
    assert not _port_open(port)
    assert _masters(jupyssh_home) == []  # the redirect page went with the tunnel
    assert not Path(urlsplit(handed).path).exists()
    # A server it found (not launched) keeps running.
    assert len(jupyter_host.jupyter_processes()) == 1


def test_launch_and_stop_leave_no_server_behind(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, browser: Browser, jupyssh_home: Path
) -> None:
    cfg = str(jupyter_host.config_file)
    before = jupyter_host.jupyter_processes()
    files_before = jupyter_host.runtime_files()
    done = jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--launch", "--json")
    try:
        data = _json(done)
        assert data["launched"] is True
        server = data["server"]
        assert isinstance(server, dict)
        assert str(server["sock"]).endswith(".sock")  # a Unix socket, no remote TCP port
        [handed] = browser.urls()
        token = parse_qs(urlsplit(_redirect_target(handed)).query)["token"][0]
        assert token not in handed
        assert token != jupyter_host.token
        assert _status(str(data["url"]), token) == 200
        processes = jupyter_host.jupyter_processes()
        assert len(processes) == len(before) + 1
        assert not any(token in line for line in processes)  # the token is not in argv
    finally:
        stopped = jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--stop", "--json")
    facts = _json(stopped)
    assert facts["launched"] is True
    assert facts["server_stopped"] is True
    assert jupyter_host.jupyter_processes() == before
    assert jupyter_host.runtime_files() == files_before
    leftovers = jupyter_host.exec(["ls", "-A", "/home/sandbox/.cache/jupyssh/tunnel"]).stdout
    assert leftovers.split() == []
    assert not _port_open(int(urlsplit(str(data["url"])).port or 0))
    assert _masters(jupyssh_home) == []


def test_launch_over_tcp_on_a_chosen_local_port(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, jupyssh_home: Path
) -> None:
    cfg = str(jupyter_host.config_file)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = jupyssh(
        "tunnel", "jupyter", "-F", cfg, jupyter_host.alias,
        "--launch", "--tcp", "--local-port", str(port), "--no-browser",
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        printed = [line for line in done.stdout.splitlines() if line.startswith("http")]
        assert len(printed) == 1, done.stdout
        url = printed[0]
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")  # --no-browser shows it
        token = parse_qs(urlsplit(url).query)["token"][0]
        assert _status(url.split("?")[0], token) == 200
    finally:
        stopped = jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert len(jupyter_host.jupyter_processes()) == 1
    assert _masters(jupyssh_home) == []


def test_a_taken_local_port_is_a_clear_error_and_leaves_nothing(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, jupyssh_home: Path
) -> None:
    cfg = str(jupyter_host.config_file)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = jupyssh(
            "tunnel", "jupyter", "-F", cfg, jupyter_host.alias,
            "--launch", "--local-port", str(port), "--no-browser",
        )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert str(port) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert len(jupyter_host.jupyter_processes()) == 1  # the launched server was stopped
    assert _masters(jupyssh_home) == []
    assert jupyssh("tunnel", "jupyter", "-F", cfg, jupyter_host.alias, "--stop").returncode == 3


def test_no_server_on_the_host_says_how_to_launch_one(
    ssh_host: SSHContainer, jupyssh: Jupyssh, jupyssh_home: Path
) -> None:
    done = jupyssh("tunnel", "jupyter", "-F", str(ssh_host.config_file), ssh_host.alias)
    assert done.returncode == 9, done.stderr
    assert "no Jupyter server runs on the host" in done.stderr
    assert "--launch" in done.stderr
    assert _masters(jupyssh_home) == []
