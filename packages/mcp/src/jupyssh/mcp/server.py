"""The MCP server: the installed packages' tools, the task tools, one policy around all.

:func:`serving` builds the server and owns what outlives a call (control masters,
tasks, the audit log) and closes it when the server stops.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from jupyssh.mcp._version import __version__
from jupyssh.mcp.audit import AUDIT_LOGGER, open_audit_log
from jupyssh.mcp.hosts import HostFactory, HostPool
from jupyssh.mcp.settings import Settings
from jupyssh.mcp.tasks import Progress, TaskManager
from jupyssh.mcp.toolset import Provider, Services, ToolSet, load_providers
from mcp.server.mcpserver import Context, MCPServer

__all__ = ["MAX_WAIT", "build_server", "serving"]

#: Longest a task_wait call may block: agents' clients time out around two minutes.
MAX_WAIT = 100.0

_INSTRUCTIONS = """\
jupyssh: work on the user's ssh hosts. Only aliases on the user's allowlist are reachable
(hosts_list shows them). Long work runs as a task: a *_start tool returns a task_id at
once; follow it with task_status or task_wait (bounded, with progress) and stop it with
task_cancel."""


def build_server(
    settings: Settings,
    *,
    providers: Mapping[str, Provider] | None = None,
    host_factory: HostFactory | None = None,
) -> tuple[MCPServer, Services]:
    """A server with the tools of ``providers`` (default: every installed package's)."""
    hosts = HostPool(settings) if host_factory is None else HostPool(settings, host_factory)
    services = Services(settings=settings, hosts=hosts, tasks=TaskManager())
    server: MCPServer = MCPServer(
        "jupyssh", version=__version__, instructions=_INSTRUCTIONS, log_level="WARNING"
    )
    tools = ToolSet(server, services)
    for provider in (load_providers() if providers is None else providers).values():
        provider(tools)
    _add_task_tools(tools)
    return server, services


@contextlib.asynccontextmanager
async def serving(settings: Settings, **kwargs: Any) -> AsyncIterator[tuple[MCPServer, Services]]:
    """:func:`build_server`, with the audit log open and everything closed at the end."""
    handler = open_audit_log(settings.audit_log)
    server, services = build_server(settings, **kwargs)
    try:
        yield server, services
    finally:
        await services.tasks.close()
        for close in services.closers:
            await close()
        await services.hosts.close()
        logging.getLogger(AUDIT_LOGGER).removeHandler(handler)
        handler.close()


def _add_task_tools(tools: ToolSet) -> None:
    tasks = tools.services.tasks

    async def task_list() -> dict[str, Any]:
        """List the server's tasks (running, and the last finished ones) with their state."""
        return {"tasks": [task.to_dict() for task in tasks.list()]}

    async def task_status(task_id: str) -> dict[str, Any]:
        """A task's state, its last progress and, once finished, its result or error."""
        return tasks.get(task_id).to_dict()

    async def task_wait(task_id: str, ctx: Context, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for a task to finish, at most `timeout` seconds (up to 100); the task's
        progress arrives meanwhile as progress notifications of this call. Returns the
        task as task_status does, finished or still running."""
        bound = min(max(timeout, 0.0), MAX_WAIT)

        async def forward(progress: Progress) -> None:
            await ctx.report_progress(progress.progress, progress.total, progress.message)

        return (await tasks.wait(task_id, bound, forward)).to_dict()

    async def task_cancel(task_id: str) -> dict[str, Any]:
        """Cancel a running task: its work is stopped (a command's ssh process is killed,
        a kernel is interrupted). Returns the task."""
        return (await tasks.cancel(task_id)).to_dict()

    tools.add(task_list, read_only=True)
    tools.add(task_status, read_only=True)
    tools.add(task_wait, read_only=True)
    tools.add(task_cancel, read_only=True)
