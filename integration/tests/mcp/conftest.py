"""Fixtures of jupyssh-mcp's integration tests: a short private home, a settings file that
allows the test's ssh host, and the MCP SDK's own client on ``jupyssh mcp serve`` run as
a subprocess over stdio (its stderr kept for the secret scans)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import SSHContainer
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client


@dataclass
class Server:
    """What one ``jupyssh mcp serve`` was given and left behind."""

    home: Path
    settings: Path
    audit_log: Path
    stderr: Path
    #: More environment for the server (a private Jupyter data folder).
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def home() -> Iterator[Path]:
    """A short JUPYSSH_HOME: control sockets live under it (108-byte socket paths)."""
    path = Path(tempfile.mkdtemp(prefix="jmcp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_settings(home: Path, ssh_host: SSHContainer, **extra: Any) -> Server:
    server = Server(
        home=home,
        settings=home / "mcp.json",
        audit_log=home / "audit.log",
        stderr=home / "server.err",
    )
    data = {
        "allow": [ssh_host.alias],
        "ssh_config": str(ssh_host.config_file),
        "audit_log": str(server.audit_log),
        **extra,
    }
    server.settings.write_text(json.dumps(data))
    return server


@asynccontextmanager
async def mcp_client(server: Server, *args: str) -> AsyncIterator[Client]:
    """The SDK's client on ``jupyssh -vv mcp serve --settings …`` (a subprocess, stdio)."""
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "jupyssh"),
        args=["-vv", "mcp", "serve", "--settings", str(server.settings), *args],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(server.home),
            "JUPYSSH_HOME": str(server.home),
            **server.env,
        },
    )
    with server.stderr.open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


async def wait_running(client: Client, task_id: str, seconds: float = 3) -> list[float]:
    """``task_wait`` on a task that outlives ``seconds``: it must still run afterwards, and
    the progress notifications that arrived meanwhile are returned (at least one)."""
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    waited = await client.call_tool(
        "task_wait", {"task_id": task_id, "timeout": seconds}, progress_callback=on_progress
    )
    assert not waited.is_error, waited.content
    assert waited.structured_content is not None
    assert waited.structured_content["state"] == "running"
    assert progress, "no progress notification arrived while waiting"
    return progress
