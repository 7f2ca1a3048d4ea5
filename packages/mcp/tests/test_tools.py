"""The host and command tools through the SDK's client: results, refusals, output caps,
redaction and the audit log (fake hosts; the containers' test is in integration/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyssh.mcp.settings import Settings
from jupyssh.mcp.testing import tool_data as data
from jupyssh.mcp.testing import tool_error as error_text

from .conftest import Hosts

pytestmark = pytest.mark.asyncio


async def test_hosts_list_shows_the_config_aliases_and_which_are_allowed(
    connect: Any, settings: Settings
) -> None:
    async with connect(settings) as client:
        listed = data(await client.call_tool("hosts_list", {}))
    assert listed["hosts"] == [
        {"alias": "lab", "allowed": True, "in_config": True},
        {"alias": "other", "allowed": False, "in_config": True},
    ]


async def test_command_run_returns_status_and_both_streams_apart(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"stdout": b"hello\n", "stderr": b"warn\n", "status": 3}
    async with connect(settings) as client:
        result = data(await client.call_tool("command_run", {"alias": "lab", "command": "x"}))
    assert (result["exit_status"], result["stdout"], result["stderr"]) == (3, "hello\n", "warn\n")
    assert not result["stdout_truncated"]
    assert hosts.made["lab"].user_commands() == ["x"]
    assert hosts.made["lab"].masters_started == 1


async def test_output_past_the_cap_is_cut_and_the_cut_said(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"stdout": b"a" * 100}
    async with connect(settings) as client:
        result = data(await client.call_tool("command_run", {"alias": "lab", "command": "x"}))
    assert result["stdout_truncated"] is True
    assert result["stdout_bytes"] == 100
    assert result["stdout"].startswith("a" * 64 + "\n[output truncated: 36 of 100 bytes")


async def test_an_alias_not_on_the_allowlist_is_refused_and_nothing_runs(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    async with connect(settings) as client:
        for tool, args in [
            ("command_run", {"alias": "other", "command": "touch /tmp/x"}),
            ("command_start", {"alias": "other", "command": "touch /tmp/x"}),
            ("host_check", {"alias": "other"}),
        ]:
            text = error_text(await client.call_tool(tool, args))
            assert "not on the MCP allowlist [other]" in text
    assert hosts.made == {}


async def test_read_only_mode_refuses_commands_and_runs_nothing(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    async with connect(settings.with_read_only(True)) as client:
        text = error_text(await client.call_tool("command_run", {"alias": "lab", "command": "x"}))
        listed = data(await client.call_tool("hosts_list", {}))
    assert "read-only mode [command_run]" in text
    assert "nothing was run" in text
    assert listed["read_only"] is True
    assert hosts.made == {}


async def test_host_check_reports_what_ssh_resolves_and_the_master(
    connect: Any, settings: Settings
) -> None:
    async with connect(settings) as client:
        result = data(await client.call_tool("host_check", {"alias": "lab"}))
    assert result["reachable"] is True
    assert (result["user"], result["hostname"], result["port"]) == ("ada", "10.0.0.7", 2222)
    assert result["master_pid"] == 4242


async def test_a_bad_timeout_is_a_tool_error(connect: Any, settings: Settings) -> None:
    async with connect(settings) as client:
        text = error_text(
            await client.call_tool("command_run", {"alias": "lab", "command": "x", "timeout": 0})
        )
    assert "timeout must be between 0 and" in text


async def test_secrets_in_output_are_redacted_in_the_result_and_the_audit_log(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"stdout": b"http://h:8888/?token=sekrit123"}
    async with connect(settings) as client:
        result = await client.call_tool(
            "command_run", {"alias": "lab", "command": "curl -H 'Authorization: token sekrit123'"}
        )
    assert "sekrit123" not in json.dumps(result.model_dump(mode="json"))
    assert data(result)["stdout"] == "http://h:8888/?token=<redacted>"
    log = settings.audit_log.read_text()
    assert "command_run" in log
    assert '"alias": "lab"' in log
    assert "sekrit123" not in log
    assert settings.audit_log.stat().st_mode & 0o777 == 0o600


async def test_every_call_is_in_the_audit_log_refusals_too(
    connect: Any, settings: Settings
) -> None:
    async with connect(settings) as client:
        await client.call_tool("hosts_list", {})
        await client.call_tool("command_run", {"alias": "other", "command": "id"})
    lines = settings.audit_log.read_text().splitlines()
    assert "hosts_list {} -> ok" in lines[0]
    assert (
        'command_run {"alias": "other", "command": "id", "timeout": 60.0} -> error config'
        in lines[1]
    )


async def test_a_long_argument_is_logged_by_its_start_and_size_a_known_secret_masked(
    connect: Any, settings: Settings
) -> None:
    from jupyssh.mcp.audit import remember_secret

    remember_secret("a-known-secret-0123456789")
    command = "echo a-known-secret-0123456789; " + "x" * 5000
    async with connect(settings) as client:
        await client.call_tool("command_run", {"alias": "other", "command": command})
    [line] = settings.audit_log.read_text().splitlines()
    assert "echo <redacted>; xxx" in line
    assert f"... [{len(command) - 25 + len('<redacted>')} characters]" in line
    assert "a-known-secret" not in line
    assert len(line) < 500


async def test_the_masters_the_server_started_are_closed_when_it_stops(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    async with connect(settings) as client:
        await client.call_tool("command_run", {"alias": "lab", "command": "x"})
        assert not hosts.made["lab"].closed
    assert hosts.made["lab"].closed
