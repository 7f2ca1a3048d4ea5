"""The streamable HTTP transport: ``jupyssh mcp serve --http`` on 127.0.0.1 answers the
SDK's own HTTP client when it sends the bearer token, and refuses (401) any request
without it or with another; the token is read from a file or the environment, never
from an argument, and refused when others may read it or it is short."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from jupyssh.core.errors import ConfigError
from jupyssh.mcp.http import TOKEN_ENV, read_token
from jupyssh.mcp.testing import tool_data

TOKEN = secrets.token_hex(32)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``jupyssh -vvv mcp serve --http 0 --token-file F``; yields its URL and stderr."""
    settings = tmp_path / "mcp.json"
    settings.write_text('{"allow": ["lab"], "audit_log": "%s"}' % (tmp_path / "audit.log"))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    stderr = tmp_path / "server.err"
    argv = [
        str(Path(sys.executable).parent / "jupyssh"), "-vvv", "mcp", "serve",
        "--settings", str(settings), "--http", "0", "--token-file", str(token_file),
    ]  # fmt: skip
    env = {"HOME": str(tmp_path), "JUPYSSH_HOME": str(tmp_path / "h"), "PATH": os.environ["PATH"]}
    with stderr.open("w") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"http://127\.0\.0\.1:\d+/mcp", stderr.read_text())):
            assert proc.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "the server did not say where it listens"
            time.sleep(0.1)
        # the token is in no argv of the machine while it serves
        assert TOKEN not in " ".join(argv)
        with open(f"/proc/{proc.pid}/cmdline", "rb") as handle:
            assert TOKEN.encode() not in handle.read()
        yield found.group(0), stderr
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.asyncio
async def test_the_sdks_http_client_with_the_token_gets_the_tools(
    served: tuple[str, Path],
) -> None:
    url, stderr = served
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        listed = tool_data(await client.call_tool("hosts_list", {}))
    assert {"hosts_list", "command_run", "task_wait"} <= names
    assert {"alias": "lab", "allowed": True, "in_config": False} in listed["hosts"]
    assert TOKEN not in stderr.read_text()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", TOKEN],
    ids=["no header", "a wrong token", "the token without Bearer"],
)
def test_a_request_without_the_right_bearer_token_is_refused(
    served: tuple[str, Path], authorization: str | None
) -> None:
    url, _ = served
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization  # the bare token, without "Bearer ", too
    body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
    response = httpx2.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_token_comes_from_a_private_file_or_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    assert read_token(token_file) == TOKEN
    assert read_token(None, {TOKEN_ENV: TOKEN}) == TOKEN
    token_file.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others"):
        read_token(token_file)
    with pytest.raises(ConfigError, match="needs a token"):
        read_token(None, {})
    with pytest.raises(ConfigError, match="shorter than 16"):
        read_token(None, {TOKEN_ENV: "short"})
    with pytest.raises(ConfigError, match="cannot read the token file"):
        read_token(tmp_path / "missing")
