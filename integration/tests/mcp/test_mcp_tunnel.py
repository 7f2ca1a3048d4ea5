"""jupyssh-mcp's tunnel tools end to end, through the SDK's stdio client, against an ssh
host that runs a real Jupyter server reachable only through ssh: the tunnel opens, its
URL (without the token) reaches the server, it is listed and its status probed, it closes;
refusals are clear (acceptance 1, 3), and the server's token is in no result or log (4)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from jupyssh_harness import lines_with
from mcp import Client

from jupyssh.mcp.testing import tool_data as ok
from jupyssh.mcp.testing import tool_error as refused

from .conftest import JupyterHost, mcp_client, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def call(client: Client, seen: list[str], tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    seen.append(json.dumps(result.model_dump(mode="json")))
    return result


def status_code(url: str, token: str | None) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.get(urljoin(url, "api/status"), headers=headers, timeout=30).status_code


def port_open(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


async def test_a_tunnel_opens_to_the_remote_jupyter_without_its_token(
    jupyter_host: JupyterHost, home: Path
) -> None:
    host, token, seen = jupyter_host.ssh, jupyter_host.token, []
    server = write_settings(home, host)
    async with mcp_client(server) as client:
        assert ok(await call(client, seen, "tunnel_list"))["jupyter"] == []
        closed = ok(await call(client, seen, "tunnel_status", alias=host.alias))
        assert closed == {"alias": host.alias, "open": False}

        opened = ok(await call(client, seen, "tunnel_open", alias=host.alias))
        url = opened["url"]
        assert url.startswith("http://127.0.0.1:")
        assert "token" not in url
        assert opened["launched"] is False
        # the URL is the remote server's: it answers with the token, refuses without
        assert status_code(url, token) == 200
        assert status_code(url, None) == 403

        [listed] = ok(await call(client, seen, "tunnel_list"))["jupyter"]
        assert (listed["alias"], listed["url"]) == (host.alias, url)
        status = ok(await call(client, seen, "tunnel_status", alias=host.alias))
        assert (status["open"], status["answering"]) == (True, True)
        assert isinstance(status["master_pid"], int)
        assert status["server_version"]

        again = refused(await call(client, seen, "tunnel_open", alias=host.alias))
        assert "already open" in again
        assert "not on the MCP allowlist" in refused(
            await call(client, seen, "tunnel_open", alias="not-listed")
        )

        stopped = ok(await call(client, seen, "tunnel_close", alias=host.alias))
        assert (stopped["url"], stopped["launched"]) == (url, False)
        assert not port_open(url)
        assert ok(await call(client, seen, "tunnel_status", alias=host.alias))["open"] is False
        assert ok(await call(client, seen, "tunnel_list"))["jupyter"] == []
        assert "no tunnel" in refused(await call(client, seen, "tunnel_close", alias=host.alias))
    async with mcp_client(server, "--read-only") as client:
        assert "read-only mode" in refused(
            await call(client, seen, "tunnel_open", alias=host.alias)
        )
        assert ok(await call(client, seen, "tunnel_list"))["jupyter"] == []
    assert ok(await _status_after(server, host.alias))["open"] is False
    logs = [server.audit_log.read_text(), server.stderr.read_text()]
    assert "tunnel_open" in logs[0]
    for text in [*seen, *logs]:
        assert not lines_with(text, [token])


async def _status_after(server: Any, alias: str) -> Any:
    """Whether a tunnel is recorded once the servers are gone (a refused open opened none)."""
    async with mcp_client(server) as client:
        return await client.call_tool("tunnel_status", {"alias": alias})
