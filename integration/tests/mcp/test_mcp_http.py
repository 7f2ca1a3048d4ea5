"""The streamable HTTP transport end to end: ``jupyssh mcp serve --http`` on 127.0.0.1,
its token from the environment, driven by the SDK's own HTTP client against a real sshd;
a request without the token is refused and runs nothing; the token is in no argv of the
machine while it serves, and in no result or log line (acceptance 3 and 4 for HTTP)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2  # the SDK's HTTP client library
import pytest
from jupyssh_harness import ArgvWatch, SSHContainer, lines_with, wait_for
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from jupyssh.mcp.testing import tool_data as ok

from .conftest import Server, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

MARKER = "/tmp/mcp-http-marker"
TOKEN = secrets.token_hex(32)


@dataclass
class Served:
    url: str
    server: Server
    watch: ArgvWatch


@pytest.fixture
def served(ssh_host: SSHContainer, home: Path) -> Iterator[Served]:
    """``jupyssh -vvv mcp serve --http 0``, its token in the environment only, while an
    ArgvWatch samples every argv of the machine."""
    server = write_settings(home, ssh_host)
    argv = [
        str(Path(sys.executable).parent / "jupyssh"), "-vvv", "mcp", "serve",
        "--settings", str(server.settings), "--http", "0",
    ]  # fmt: skip
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "JUPYSSH_HOME": str(home),
        "JUPYSSH_MCP_TOKEN": TOKEN,
    }
    with ArgvWatch() as watch, server.stderr.open("w") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=err, env=env)
        try:
            listening = re.compile(r"http://127\.0\.0\.1:\d+/mcp")
            wait_for(
                lambda: (
                    proc.poll() is not None or bool(listening.search(server.stderr.read_text()))
                ),
                60,
                "the server to say where it listens",
            )
            found = listening.search(server.stderr.read_text())
            assert found, server.stderr.read_text()
            yield Served(found.group(0), server, watch)
        finally:
            proc.terminate()
            proc.wait(30)


async def test_the_sdks_http_client_runs_a_command_with_the_token_only(
    ssh_host: SSHContainer, served: Served
) -> None:
    ssh_host.exec(["rm", "-f", MARKER])
    expected = ssh_host.exec(["hostname"]).stdout.strip()
    touch = {"alias": ssh_host.alias, "command": f"touch {MARKER}"}
    call = {"name": "command_run", "arguments": touch}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as bare:
        refused = await bare.post(served.url, json=body, headers=accept)
    assert refused.status_code == 401
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(served.url, http_client=http)) as client,
    ):
        result = await client.call_tool(
            "command_run", {"alias": ssh_host.alias, "command": "hostname"}
        )
    run = ok(result)
    assert (run["exit_status"], run["stdout"].strip()) == (0, expected)
    assert ssh_host.exec(["test", "-e", MARKER], check=False).exit_code != 0  # nothing ran
    assert served.watch.samples > 0
    assert served.watch.holding([TOKEN]) == []
    texts = [json.dumps(result.model_dump(mode="json")), served.server.audit_log.read_text()]
    texts.append(served.server.stderr.read_text())
    assert "command_run" in texts[1]
    for text in texts:
        assert not lines_with(text, [TOKEN])
