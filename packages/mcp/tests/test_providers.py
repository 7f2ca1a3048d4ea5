"""Tools come from the installed packages' entry points; with jupyssh-core alone an agent
gets the host and command tools (and the task tools every server has), nothing else."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from jupyssh.mcp.providers.core import register as core_tools
from jupyssh.mcp.server import build_server
from jupyssh.mcp.settings import Settings
from jupyssh.mcp.toolset import ENTRY_POINT_GROUP, load_providers

pytestmark = pytest.mark.asyncio

CORE_TOOLS = {"hosts_list", "host_check", "command_run", "command_start"}
KERNEL_TOOLS = {
    "kernel_specs",
    "kernel_list",
    "kernel_start",
    "kernel_execute",
    "kernel_interrupt",
    "kernel_restart",
    "kernel_shutdown",
    # Slurm jobs come with jupyssh-kernel, which brings Slurm
    "slurm_submit",
    "slurm_status",
    "slurm_cancel",
}
FILES_TOOLS = {"files_read", "files_write", "files_list", "files_stat"}
TUNNEL_TOOLS = {"tunnel_list", "tunnel_status", "tunnel_open", "tunnel_close"}
TASK_TOOLS = {"task_list", "task_status", "task_wait", "task_cancel"}


async def test_core_provider_alone_gives_the_host_and_command_tools_only() -> None:
    server, _ = build_server(Settings(), providers={"core": core_tools})
    async with Client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == CORE_TOOLS | TASK_TOOLS


async def test_the_installed_entry_points_give_cores_provider() -> None:
    providers = load_providers()
    assert providers["core"] is core_tools


async def test_tools_say_whether_they_only_read() -> None:
    server, _ = build_server(Settings(), providers={"core": core_tools})
    async with Client(server) as client:
        hints = {
            tool.name: tool.annotations.read_only_hint
            for tool in (await client.list_tools()).tools
            if tool.annotations is not None
        }
    assert hints["hosts_list"] is True
    assert hints["command_run"] is False


def _point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


async def test_without_jupyssh_kernel_installed_only_cores_tools_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Acceptance 5: jupyssh-mcp with jupyssh-core alone (the other packages hidden)."""
    from importlib.metadata import PackageNotFoundError

    from jupyssh.mcp import toolset

    def only_core(name: str) -> Any:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(toolset, "distribution", only_core)
    providers = load_providers()
    assert list(providers) == ["core"]
    server, _ = build_server(Settings(), providers=providers)
    async with Client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == CORE_TOOLS | TASK_TOOLS


async def test_with_every_package_installed_each_adds_its_tools() -> None:
    """kernel (and Slurm), sftp (files) and tunnel, each through its entry point."""
    assert list(load_providers()) == ["core", "kernel", "sftp", "tunnel"]
    server, _ = build_server(Settings())
    async with Client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == CORE_TOOLS | TASK_TOOLS | KERNEL_TOOLS | FILES_TOOLS | TUNNEL_TOOLS


@pytest.mark.parametrize(
    ("installed", "tools"),
    [("jupyssh-sftp", FILES_TOOLS), ("jupyssh-tunnel", TUNNEL_TOOLS)],
)
async def test_one_more_package_adds_its_tools_only(
    monkeypatch: pytest.MonkeyPatch, installed: str, tools: set[str]
) -> None:
    from importlib.metadata import PackageNotFoundError

    from jupyssh.mcp import toolset

    def only(name: str) -> Any:
        if name != installed:
            raise PackageNotFoundError(name)

    monkeypatch.setattr(toolset, "distribution", only)
    server, _ = build_server(Settings(), providers=load_providers())
    async with Client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == CORE_TOOLS | TASK_TOOLS | tools


async def test_a_provider_of_a_package_not_installed_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    points = [
        _point("core", "jupyssh.mcp.providers.core:register"),
        _point("absent", "jupyssh.not_installed_package.tools:register"),
        _point("broken", "json:no_such_attribute"),
    ]
    providers = load_providers(points)
    assert list(providers) == ["core"]
    assert "broken skipped" in caplog.text
    assert "absent" not in caplog.text


async def test_jupyssh_mcp_serve_speaks_mcp_over_stdio(tmp_path: Path) -> None:
    """The command an agent's client runs: the SDK's stdio client lists its tools."""
    settings = tmp_path / "mcp.json"
    settings.write_text('{"allow": ["lab"], "audit_log": "%s"}' % (tmp_path / "audit.log"))
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "jupyssh"),
        args=["mcp", "serve", "--settings", str(settings)],
        # HOME: no ~/.ssh/config of the machine's own in the listing
        env={
            "HOME": str(tmp_path),
            "JUPYSSH_HOME": str(tmp_path / "home"),
            "PATH": "/usr/bin:/bin",
        },
    )
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        listed: Any = (await client.call_tool("hosts_list", {})).structured_content
    assert names >= CORE_TOOLS
    assert listed["hosts"] == [{"alias": "lab", "allowed": True, "in_config": False}]
