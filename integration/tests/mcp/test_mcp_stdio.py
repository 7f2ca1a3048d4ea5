"""jupyssh-mcp end to end: the MCP SDK's own client starts ``jupyssh mcp serve`` and drives
every host, command and task tool over stdio against a real sshd (acceptance 1 of the MCP
issue for these tools), the refusals (3) and the secret scan of results and logs (4)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from jupyssh_harness import SSHContainer, until

from jupyssh.mcp.testing import tool_data as ok
from jupyssh.mcp.testing import tool_error as refused

from .conftest import mcp_client, wait_running, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

#: Secrets the host prints: none may reach a result, the audit log or the server's stderr.
TOKEN = "f00dfacecafe1234deadbeef5678aa"
KERNEL_KEY = "0123456789abcdef-kernel-hmac-key"
SECRET_FILE = "/tmp/mcp-secrets.txt"
MARKER = "/tmp/mcp-read-only-marker"


def remote_sleeps(ssh_host: SSHContainer, seconds: str) -> int:
    """How many ``sleep SECONDS`` processes run on the host (read from /proc)."""
    script = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"
    lines = ssh_host.exec(["sh", "-c", script]).stdout.splitlines()
    return sum(line.strip() == f"sleep {seconds}" for line in lines)


async def test_hosts_and_commands_over_stdio(ssh_host: SSHContainer, home: Path) -> None:
    server = write_settings(home, ssh_host, max_output_bytes=1000)
    expected_hostname = ssh_host.exec(["hostname"]).stdout.strip()
    async with mcp_client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"hosts_list", "host_check", "command_run", "command_start"} <= names

        listed = ok(await client.call_tool("hosts_list", {}))
        assert {"alias": ssh_host.alias, "allowed": True, "in_config": True} in listed["hosts"]

        check = ok(await client.call_tool("host_check", {"alias": ssh_host.alias}))
        assert check["reachable"] is True
        assert (check["user"], check["port"]) == (ssh_host.user, ssh_host.port)
        assert isinstance(check["master_pid"], int)

        run = ok(
            await client.call_tool(
                "command_run",
                {"alias": ssh_host.alias, "command": "hostname; echo oops >&2; exit 3"},
            )
        )
        assert (run["exit_status"], run["stdout"], run["stderr"]) == (
            3,
            f"{expected_hostname}\n",
            "oops\n",
        )

        big = ok(
            await client.call_tool(
                "command_run",
                {"alias": ssh_host.alias, "command": "head -c 200000 /dev/zero | tr '\\0' a"},
            )
        )
        assert big["stdout_truncated"] is True
        assert big["stdout_bytes"] == 200000
        assert big["stdout"].startswith("a" * 1000 + "\n[output truncated: 199000 of 200000")

        started = time.monotonic()
        timed_out = refused(
            await client.call_tool(
                "command_run", {"alias": ssh_host.alias, "command": "sleep 31", "timeout": 2}
            )
        )
        assert "did not finish within 2 s" in timed_out
        assert time.monotonic() - started < 15
        assert remote_sleeps(ssh_host, "31") == 0


async def test_a_command_task_returns_at_once_reports_progress_and_cancels(
    ssh_host: SSHContainer, home: Path
) -> None:
    server = write_settings(home, ssh_host)
    async with mcp_client(server) as client:
        started = time.monotonic()
        task = ok(
            await client.call_tool(
                "command_start",
                {"alias": ssh_host.alias, "command": "sleep 30; echo never"},
            )
        )
        assert time.monotonic() - started < 5
        assert task["state"] == "running"
        await until(lambda: remote_sleeps(ssh_host, "30") == 1, 10, "the command runs")
        progress = await wait_running(client, task["task_id"])
        assert progress == sorted(progress)

        cancelled = ok(await client.call_tool("task_cancel", {"task_id": task["task_id"]}))
        assert cancelled["state"] == "cancelled"
        assert time.monotonic() - started < 20
        assert remote_sleeps(ssh_host, "30") == 0

        done = ok(
            await client.call_tool(
                "command_start", {"alias": ssh_host.alias, "command": "echo finished"}
            )
        )
        result = ok(
            await client.call_tool("task_wait", {"task_id": done["task_id"], "timeout": 30})
        )
        assert result["state"] == "completed"
        assert result["result"]["stdout"] == "finished\n"


async def test_refusals_are_tool_errors_and_nothing_runs(
    ssh_host: SSHContainer, home: Path
) -> None:
    ssh_host.exec(["rm", "-f", MARKER])
    server = write_settings(home, ssh_host)
    async with mcp_client(server, "--read-only") as client:
        text = refused(
            await client.call_tool(
                "command_run", {"alias": ssh_host.alias, "command": f"touch {MARKER}"}
            )
        )
        assert "read-only mode" in text
        text = refused(
            await client.call_tool(
                "command_start", {"alias": ssh_host.alias, "command": f"touch {MARKER}"}
            )
        )
        assert "read-only mode" in text
        # reading is still allowed in read-only mode
        check = ok(await client.call_tool("host_check", {"alias": ssh_host.alias}))
        assert check["reachable"] is True
    async with mcp_client(server) as client:
        text = refused(
            await client.call_tool(
                "command_run", {"alias": "not-listed", "command": f"touch {MARKER}"}
            )
        )
        assert "not on the MCP allowlist [not-listed]" in text
        text = refused(await client.call_tool("task_status", {"task_id": "task-404"}))
        assert "no such task" in text
    assert ssh_host.exec(["test", "-e", MARKER], check=False).exit_code != 0
    log = server.audit_log.read_text()
    assert "refused: read-only mode" in log
    assert "not-listed" in log


async def test_no_secret_in_any_result_or_log_line(ssh_host: SSHContainer, home: Path) -> None:
    secrets_text = (
        f"http://127.0.0.1:8888/lab?token={TOKEN}\n"
        f"Authorization: token {TOKEN}\n"
        f'{{"shell_port": 5, "key": "{KERNEL_KEY}"}}\n'
    )
    ssh_host.exec(["sh", "-c", f"printf '%s' '{secrets_text}' > {SECRET_FILE}"])
    server = write_settings(home, ssh_host)
    results: list[str] = []
    async with mcp_client(server) as client:
        for tool, args in [
            ("command_run", {"alias": ssh_host.alias, "command": f"cat {SECRET_FILE}"}),
            ("command_run", {"alias": ssh_host.alias, "command": f"cat {SECRET_FILE} >&2"}),
            (
                "command_run",
                {"alias": ssh_host.alias, "command": f"echo 'Authorization: token {TOKEN}'"},
            ),
            ("command_start", {"alias": ssh_host.alias, "command": f"cat {SECRET_FILE}"}),
        ]:
            result = await client.call_tool(tool, args)
            results.append(json.dumps(result.model_dump(mode="json")))
            if tool == "command_start":
                task_id = ok(result)["task_id"]
                waited = await client.call_tool("task_wait", {"task_id": task_id, "timeout": 30})
                assert ok(waited)["state"] == "completed"
                results.append(json.dumps(waited.model_dump(mode="json")))
    assert "<redacted>" in results[0]
    logs = {"audit log": server.audit_log.read_text(), "stderr": server.stderr.read_text()}
    assert "command_run" in logs["audit log"]
    for text in [*results, *logs.values()]:
        assert TOKEN not in text
        assert KERNEL_KEY not in text
