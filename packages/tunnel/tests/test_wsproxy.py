"""ws-proxy's pure parts: URLs, tokens, the config block, the explanations, the pump."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.frames import Close

from jupyssh.core.errors import ConfigError
from jupyssh.tunnel.wsproxy import (
    _explain,
    parse_target,
    pump,
    ssh_config_block,
    token_from_env,
)


@pytest.mark.parametrize(
    ("url", "uri", "port", "secure"),
    [
        ("https://hub.example/user/me/sshd/", "wss://hub.example/user/me/sshd/", 443, True),
        ("http://127.0.0.1:8888/sshd", "ws://127.0.0.1:8888/sshd/", 8888, False),
        ("wss://h:9443/x/sshd/", "wss://h:9443/x/sshd/", 9443, True),
    ],
)
def test_parse_target(url: str, uri: str, port: int, secure: bool) -> None:
    target = parse_target(url)
    assert (target.uri, target.port, target.secure) == (uri, port, secure)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/sshd/",
        "https:///sshd/",
        "https://u:p@h/sshd/",
        "https://h/sshd/?token=abc",
        'https://h/ss"hd/',
        "https://h/s hd/",
    ],
)
def test_parse_target_refuses(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_target(url)


def test_token_from_env() -> None:
    assert token_from_env("T", {"T": " abc \n"}) == "abc"
    with pytest.raises(ConfigError, match=r"\$T is not set"):
        token_from_env("T", {})
    with pytest.raises(ConfigError, match="not an environment variable name"):
        token_from_env("A B", {"A B": "x"})


def test_ssh_config_block_quotes_and_escapes() -> None:
    block = ssh_config_block(
        "hub-me", "https://hub/user/a%20b/sshd/", user="me", program="/opt/my tools/jupyssh"
    )
    assert block.splitlines() == [
        "Host hub-me",
        "    ProxyCommand '/opt/my tools/jupyssh' tunnel ws-proxy --token-env JUPYTER_TOKEN "
        "wss://hub/user/a%%20b/sshd/",
        "    User me",
        "    HostKeyAlias hub-me",
        "    ServerAliveInterval 15",
        "    ServerAliveCountMax 3",
    ]
    with pytest.raises(ConfigError):
        ssh_config_block("two words", "https://hub/sshd/")
    with pytest.raises(ConfigError):
        ssh_config_block("ok", "https://hub/sshd/", token_env="$(x)")
    with pytest.raises(ConfigError, match="not a user name"):
        ssh_config_block("ok", "https://hub/sshd/", user="me\n    ProxyCommand x")


@pytest.mark.parametrize(
    ("status", "location", "words"),
    [
        (302, "/hub/login?next=%2Fuser%2Fme%2Fsshd%2F", "not running or not logged in"),
        (302, "/user/me/sshd", "no sshd endpoint at this path"),
        (302, "https://elsewhere/", "check the URL"),
        (401, None, "refused the token (HTTP 401)"),
        (403, None, "refused the token (HTTP 403)"),
        (404, None, "no such endpoint"),
        (500, None, "HTTP 500 instead of opening a WebSocket"),
    ],
)
def test_each_refusal_is_explained_in_one_line(
    status: int, location: str | None, words: str
) -> None:
    error = _explain(status, location, "wss://hub/user/me/sshd/")
    assert words in str(error)
    assert "\n" not in str(error)
    assert error.exit_code == 4


class _FakeConnection:
    """Stands in for a websockets ClientConnection: records sends, replays messages."""

    def __init__(self, messages: list[bytes | str]) -> None:
        self.messages = messages
        self.sent: list[bytes] = []
        self.closed = threading.Event()

    def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed.set()

    def __iter__(self) -> Iterator[bytes | str]:
        yield from self.messages
        # The server closes once ssh's bytes went up (a real server closes when sshd ends).
        self.closed.wait(10)
        raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), rcvd_then_sent=True)


def test_pump_copies_both_ways_byte_exact() -> None:
    up = os.urandom(700_000)
    down: list[bytes | str] = [b"\x00\x01binary", "text", os.urandom(300_000)]
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    connection = _FakeConnection(down)

    def feed() -> None:
        os.write(stdin_w, up)
        os.close(stdin_w)

    received = bytearray()

    def drain() -> None:
        while chunk := os.read(stdout_r, 65536):
            received.extend(chunk)

    threads = [threading.Thread(target=feed), threading.Thread(target=drain)]
    for thread in threads:
        thread.start()
    pump(connection, stdin_r, stdout_w)  # type: ignore[arg-type]
    os.close(stdout_w)
    for thread in threads:
        thread.join(10)
    os.close(stdin_r)
    os.close(stdout_r)
    assert b"".join(connection.sent) == up
    assert bytes(received) == b"\x00\x01binary" + b"text" + down[2]  # type: ignore[operator]


_RECORDER = """#!/bin/sh
# Stands in for jupyssh as ssh's ProxyCommand: records the words it was given, then fails.
for word in "$@"; do printf '%s\\n' "$word"; done > "$(dirname "$0")/proxy-argv"
exit 1
"""


@pytest.mark.parametrize(
    "path",
    [
        "/user/$(touch${IFS}pwned)/sshd/",
        "/user/`touch${IFS}pwned`/sshd/",
        "/user/me'$(touch${IFS}pwned)'/sshd/",
        "/user/a\\$(touch${IFS}pwned)/sshd/",
        "/user/a;touch${IFS}pwned;/sshd/",
        "/user/50%25!/sshd/",
    ],
)
def test_finding_3_ws_config_url_cannot_run_shell(tmp_path: Path, path: str) -> None:
    """The block's ProxyCommand, run by a real ssh (through ``sh -c``), passes the URL
    as one literal word and runs nothing the URL holds."""
    recorder = tmp_path / "bin" / "jupyssh"
    recorder.parent.mkdir()
    recorder.write_text(_RECORDER)
    recorder.chmod(0o755)
    url = f"http://127.0.0.1:1{path}"
    config = tmp_path / "cfg"
    config.write_text(ssh_config_block("wsalias", url, program=str(recorder)))
    done = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "wsalias", "true"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 255
    assert not (tmp_path / "pwned").exists()
    argv = (recorder.parent / "proxy-argv").read_text().splitlines()
    assert argv == ["tunnel", "ws-proxy", "--token-env", "JUPYTER_TOKEN", parse_target(url).uri]


#: What ``jupyssh tunnel ws-proxy`` must not import: it is ssh's ProxyCommand, started at
#: every login, and each of these cost it tens of milliseconds it has no use for.
_NOT_FOR_WS_PROXY = ("asyncio", "httpx", "rich", "jupyssh.tunnel.reverse", "jupyssh.tunnel.jupyter")


def test_ws_proxy_starts_without_the_other_commands_machinery() -> None:
    probe = (
        "import sys\n"
        "from jupyssh.core.cli import main\n"
        "try:\n"
        "    main(['tunnel', 'ws-proxy', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {_NOT_FOR_WS_PROXY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
