"""``jupyssh tunnel ws-proxy`` as ssh's ProxyCommand to jupyter-sshd-proxy behind
jupyter-server-proxy, in a real Jupyter server container (issue #7, item 4).

ssh, scp and the WebSocket all run for real; the sshd at the far end is the one
jupyter-sshd-proxy starts as the server's user.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from jupyssh_harness import ArgvWatch, KeyPair, write_known_hosts

from .conftest import COMMAND_TIMEOUT_S, Jupyssh, WebSocketServer

ALIAS = "jupyssh-ws"


@pytest.fixture
def ws_ssh_config(
    ws_server: WebSocketServer, keypair: KeyPair, jupyssh: Jupyssh, tmp_path: Path
) -> Path:
    """The block `ws-config` prints, plus the test's key and a pinned host key."""
    done = jupyssh("tunnel", "ws-config", ALIAS, ws_server.sshd_url, "--user", "sandbox")
    assert done.returncode == 0, done.stderr
    block = done.stdout
    assert "ProxyCommand " in block
    assert "--token-env JUPYTER_TOKEN" in block
    assert ws_server.token not in block
    known_hosts = write_known_hosts(
        tmp_path / "known_hosts", [(ALIAS, 22, ws_server.host_key_blob)]
    )
    extra = (
        f"    IdentityFile {keypair.private_key}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    BatchMode yes\n"
        "    ControlPath none\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(block + extra)
    config.chmod(0o600)
    return config


def _run(
    argv: list[str], env: dict[str, str], *, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv, input=input, capture_output=True, env=env, timeout=COMMAND_TIMEOUT_S, check=False
    )


def _env(jupyssh: Jupyssh, token: str) -> dict[str, str]:
    env = dict(jupyssh.env)
    env["JUPYTER_TOKEN"] = token
    return env


def test_ssh_and_scp_through_the_websocket_are_byte_exact(
    ws_server: WebSocketServer, ws_ssh_config: Path, jupyssh: Jupyssh, tmp_path: Path
) -> None:
    env = _env(jupyssh, ws_server.token)
    ssh = ["ssh", "-F", str(ws_ssh_config), ALIAS]
    who = _run([*ssh, "id", "-un"], env)
    assert who.returncode == 0, who.stderr.decode()
    assert who.stdout.decode().strip() == "sandbox"

    payload = os.urandom(8 * 1024 * 1024 + 17)  # not a multiple of any frame or chunk size
    digest = hashlib.sha256(payload).hexdigest()
    piped = _run([*ssh, "cat > /tmp/piped.bin && sha256sum /tmp/piped.bin"], env, input=payload)
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout.decode().split()[0] == digest
    back = _run([*ssh, "cat /tmp/piped.bin"], env)
    assert back.returncode == 0
    assert back.stdout == payload

    source = tmp_path / "source.bin"
    source.write_bytes(payload[::-1])
    up = _run(["scp", "-q", "-F", str(ws_ssh_config), str(source), f"{ALIAS}:/tmp/scp.bin"], env)
    assert up.returncode == 0, up.stderr.decode()
    copy = tmp_path / "copy.bin"
    down = _run(["scp", "-q", "-F", str(ws_ssh_config), f"{ALIAS}:/tmp/scp.bin", str(copy)], env)
    assert down.returncode == 0, down.stderr.decode()
    assert copy.read_bytes() == source.read_bytes()


def test_a_wrong_token_is_one_line_and_ssh_exits_255(
    ws_server: WebSocketServer, ws_ssh_config: Path, jupyssh: Jupyssh
) -> None:
    done = _run(["ssh", "-F", str(ws_ssh_config), ALIAS, "true"], _env(jupyssh, "wrong"))
    assert done.returncode == 255
    ours = [line for line in done.stderr.decode().splitlines() if line.startswith("jupyssh:")]
    assert ours == [
        f"jupyssh: error: the server refused the token (HTTP 403) [ws://{ws_server.sshd_url[7:]}]"
        ": check the token in the --token-env variable (a Jupyter server's token, or your hub "
        "API token for a hub service)"
    ]


def test_a_missing_endpoint_and_a_missing_token_are_explained(
    ws_server: WebSocketServer, jupyssh: Jupyssh
) -> None:
    env = _env(jupyssh, ws_server.token)
    wrong_path = ws_server.sshd_url.replace("/sshd/", "/no-such-proxy/")
    done = _run(["jupyssh", "tunnel", "ws-proxy", wrong_path], env, input=b"")
    assert done.returncode == 4
    assert b"no sshd endpoint at this path" in done.stderr
    assert b"jupyter-sshd-proxy installed" in done.stderr
    assert len(done.stderr.splitlines()) == 1

    env.pop("JUPYTER_TOKEN")
    done = _run(["jupyssh", "tunnel", "ws-proxy", ws_server.sshd_url], env, input=b"")
    assert done.returncode == 3
    assert b"$JUPYTER_TOKEN is not set" in done.stderr


def test_the_token_stays_out_of_debug_logs(ws_server: WebSocketServer, jupyssh: Jupyssh) -> None:
    env = _env(jupyssh, ws_server.token)
    # The handshake succeeds, then stdin ends at once: the bridge closes and exits 0.
    with ArgvWatch() as watch:
        done = _run(["jupyssh", "-vvv", "tunnel", "ws-proxy", ws_server.sshd_url], env, input=b"")
    assert watch.holding([ws_server.token]) == []  # nor in any argv (ps) meanwhile
    assert done.returncode == 0, done.stderr
    assert b"101 Switching Protocols" in done.stderr
    assert b"Authorization" in done.stderr  # websockets did log the handshake ...
    assert ws_server.token.encode() not in done.stderr  # ... without the token
