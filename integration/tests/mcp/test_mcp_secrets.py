"""``jupyssh mcp serve`` over stdio at ``-vvv``, through the tools that handle a secret: the
kernel tools (a kernel's HMAC key), the files tools on a Jupyter server (its token, read
from a token file) and the tunnel tools (the token of the Jupyter server on an ssh host).
None of them is in any argv of this machine or of the ssh host while the server runs, in
a tool's result, or in a line of the audit log or of the server's ``-vvv`` stderr; nor is
a Jupyter login cookie (hardening issue, acceptance 4, for ``mcp serve`` over stdio; the
HTTP transport's bearer token is test_mcp_http's)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jupyssh_harness import ArgvWatch, JupyterServer, SSHContainer, lines_with

from jupyssh.mcp.testing import tool_data as ok

from .conftest import JupyterHost, Server, add_spec, mcp_client, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

#: tornado's signed values (jupyter_server's login cookie) start so.
SIGNED_COOKIE = re.compile(r"2\|1:0\|\d+:\d+\|")


def assert_no_secret(
    watch: ArgvWatch, server: Server, results: list[str], secrets: list[str]
) -> None:
    log = server.stderr.read_text()
    assert "DEBUG" in log, "no -vvv output: the log check would be blind"
    assert "httpcore" in log, "the HTTP libraries logged nothing: the cookie check is blind"
    assert watch.samples > 5
    assert all(len(secret) >= 16 for secret in secrets), "a secret the test did not learn"
    assert watch.holding(secrets) == []
    for text in [*results, server.audit_log.read_text(), log]:
        assert lines_with(text, secrets) == []
    assert [line for line in log.splitlines() if SIGNED_COOKIE.search(line)] == []


async def test_kernel_and_jupyter_files_tools_show_no_key_or_token(
    ssh_host: SSHContainer, jupyter_server: JupyterServer, home: Path
) -> None:
    token_file = home / "lab.token"
    token_file.write_text(jupyter_server.token)
    token_file.chmod(0o600)
    servers = {"lab": {"url": jupyter_server.url, "token_file": str(token_file)}}
    server = write_settings(home, ssh_host, jupyter_servers=servers)
    spec = add_spec(server, ssh_host, "mcp-secrets")
    results: list[str] = []
    key = ""
    with ArgvWatch(containers=[ssh_host.container]) as watch:
        async with mcp_client(server, "-vvv") as client:
            listed = ok(await client.call_tool("files_list", {"server": "lab"}))
            kernel = ok(await client.call_tool("kernel_start", {"spec": spec}))
            [connection_file] = (server.home / "rt").glob("kernel-*.json")
            key = json.loads(connection_file.read_text())["key"]
            run = {"kernel_id": kernel["kernel_id"], "code": "print(6 * 7)"}
            task = ok(await client.call_tool("kernel_execute", run))
            wait = {"task_id": task["task_id"], "timeout": 60}
            done = ok(await client.call_tool("task_wait", wait))
            assert done["state"] == "completed", done
            assert done["result"]["outputs"][0]["text"] == "42\n"
            shut = ok(await client.call_tool("kernel_shutdown", {"kernel_id": kernel["kernel_id"]}))
            assert shut["shut_down"] is True
            results += [json.dumps(r) for r in (listed, kernel, task, done, shut)]
    assert_no_secret(watch, server, results, [key, jupyter_server.token])


async def test_tunnel_tools_show_no_token(jupyter_host: JupyterHost, home: Path) -> None:
    host = jupyter_host.ssh
    server = write_settings(home, host)
    results: list[str] = []
    with ArgvWatch(containers=[host.container]) as watch:
        async with mcp_client(server, "-vvv") as client:
            opened = ok(await client.call_tool("tunnel_open", {"alias": host.alias}))
            status = ok(await client.call_tool("tunnel_status", {"alias": host.alias}))
            assert (status["open"], status["answering"]) == (True, True)
            closed = ok(await client.call_tool("tunnel_close", {"alias": host.alias}))
            results += [json.dumps(r) for r in (opened, status, closed)]
    assert_no_secret(watch, server, results, [jupyter_host.token])
