"""Long work as tasks: a start returns an id at once, task_wait forwards progress and is
bounded, task_cancel stops the work (the ssh process of a command)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jupyssh.core.errors import OperationTimeoutError
from jupyssh.mcp.settings import Settings
from jupyssh.mcp.tasks import TaskManager
from jupyssh.mcp.testing import tool_error

from .conftest import Hosts

pytestmark = pytest.mark.asyncio


async def test_command_start_returns_a_task_at_once_and_cancel_stops_the_command(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"hang": True}
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with connect(settings) as client:
        # The fake command never ends by itself: a start that waited for it would hang
        # until this bound, where one that returns at once comes back in milliseconds.
        started = client.call_tool("command_start", {"alias": "lab", "command": "sleep 30"})
        task = (await asyncio.wait_for(started, 30)).structured_content
        assert task["state"] == "running"
        waited = (
            await client.call_tool(
                "task_wait",
                {"task_id": task["task_id"], "timeout": 1.5},
                progress_callback=on_progress,
            )
        ).structured_content
        assert waited["state"] == "running"
        assert progress, "task_wait forwarded no progress"
        assert progress[0][2] is not None
        assert progress[0][2].startswith("running for")
        cancelled = (
            await client.call_tool("task_cancel", {"task_id": task["task_id"]})
        ).structured_content
        assert cancelled["state"] == "cancelled"
        status = (
            await client.call_tool("task_status", {"task_id": task["task_id"]})
        ).structured_content
        assert status["state"] == "cancelled"
    # a cancelled run is stopped on the host by core (test_ssh_host.py)
    assert hosts.made["lab"].cancelled
    assert hosts.made["lab"].timeouts == [3600.0]


async def test_a_command_past_its_timeout_is_killed_on_the_host(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"hang": True}
    async with connect(settings) as client:
        result = await client.call_tool(
            "command_run", {"alias": "lab", "command": "sleep 30", "timeout": 0.2}
        )
    assert "did not finish within 0.2 s and was killed" in tool_error(result)
    # the timeout is core's, which kills the command on the host (test_ssh_host.py)
    assert hosts.made["lab"].timeouts == [0.2]
    assert hosts.made["lab"].timed_out


async def test_a_finished_command_task_has_command_runs_result(
    connect: Any, settings: Settings, hosts: Hosts
) -> None:
    hosts.template = {"stdout": b"done\n"}
    async with connect(settings) as client:
        task = (
            await client.call_tool("command_start", {"alias": "lab", "command": "echo done"})
        ).structured_content
        waited = (
            await client.call_tool("task_wait", {"task_id": task["task_id"], "timeout": 20})
        ).structured_content
        listed = (await client.call_tool("task_list", {})).structured_content
    assert waited["state"] == "completed"
    assert waited["result"]["stdout"] == "done\n"
    assert waited["result"]["exit_status"] == 0
    assert [t["task_id"] for t in listed["tasks"]] == [task["task_id"]]


async def test_an_unknown_task_is_a_clear_tool_error(connect: Any, settings: Settings) -> None:
    async with connect(settings) as client:
        result = await client.call_tool("task_status", {"task_id": "task-99"})
    assert "no such task [task-99]" in tool_error(result)


async def test_a_failed_task_says_why() -> None:
    tasks = TaskManager()

    async def work(report: Any) -> dict[str, Any]:
        raise OperationTimeoutError("ssh lab did not finish within 1 s")

    task = tasks.start("demo", work)
    done = await tasks.wait(task.id, 10)
    assert done.to_dict()["state"] == "failed"
    assert done.to_dict()["error"] == "ssh lab did not finish within 1 s"


async def test_cancel_calls_on_cancel_first() -> None:
    tasks = TaskManager()
    calls: list[str] = []

    async def work(report: Any) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def interrupt() -> None:
        calls.append("interrupt")

    task = tasks.start("demo", work, on_cancel=interrupt)
    await tasks.cancel(task.id)
    assert calls == ["interrupt"]
    assert task.state == "cancelled"


async def test_wait_is_bounded() -> None:
    tasks = TaskManager()

    async def work(report: Any) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    task = tasks.start("demo", work)
    started = time.monotonic()
    await tasks.wait(task.id, 0.2)
    assert 0.2 <= time.monotonic() - started < 5
    assert task.state == "running"
    await tasks.close()
    assert task.state == "cancelled"
