"""Long work as tasks: a call returns at once with an id; the work runs on in the server.

An agent's client gives up on a tool call after a minute or two; a kernel that queues or
a command that runs for minutes must not be bound to one call. A task runs in the
server's event loop, records its progress, and is polled (``task_status``), waited for
with a bound (``task_wait``, which forwards the task's progress as MCP progress
notifications of the waiting call) or cancelled (``task_cancel``, which cancels the
work: a command's ssh process is killed, a kernel is interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from jupyssh.core.errors import ConfigError, JupysshError

__all__ = ["Progress", "Reporter", "Task", "TaskManager", "TaskState"]

log = logging.getLogger(__name__)

TaskState = Literal["running", "completed", "failed", "cancelled"]
#: What a task's work calls to say how far it is: ``(progress, total, message)``.
Reporter = Callable[[float, float | None, str | None], None]
#: The work: given a reporter, returns the task's result (a JSON-able dict).
Work = Callable[[Reporter], Awaitable[dict[str, Any]]]
#: Called when a task is cancelled, before its work is: a kernel's interrupt.
OnCancel = Callable[[], Awaitable[None]]

#: Finished tasks kept for polling; the oldest are forgotten past this.
_KEEP_FINISHED = 100


@dataclass(frozen=True)
class Progress:
    progress: float
    total: float | None
    message: str | None


@dataclass
class Task:
    id: str
    tool: str
    started: float
    runner: asyncio.Task[dict[str, Any]] | None = None
    on_cancel: OnCancel | None = None
    progress: Progress | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    state: TaskState = "running"
    finished: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress = Progress(progress, total, message)
        self._bump()

    def _bump(self) -> None:
        # Wake every waiter, then re-arm for the next change.
        self.changed.set()
        self.changed = asyncio.Event()

    def to_dict(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.monotonic()
        data: dict[str, Any] = {
            "task_id": self.id,
            "tool": self.tool,
            "state": self.state,
            "elapsed_seconds": round(end - self.started, 3),
        }
        if self.progress is not None:
            data["progress"] = {
                "progress": self.progress.progress,
                "total": self.progress.total,
                "message": self.progress.message,
            }
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        return data


class TaskManager:
    """The server's tasks, by id. Every task is cancelled when the manager closes."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)

    def start(self, tool: str, work: Work, *, on_cancel: OnCancel | None = None) -> Task:
        """Start ``work`` in the background and return its task at once."""
        task = Task(id=f"task-{next(self._ids)}", tool=tool, started=time.monotonic())
        task.on_cancel = on_cancel
        task.runner = asyncio.create_task(self._run(task, work), name=task.id)
        self._tasks[task.id] = task
        self._forget_old()
        log.info("task %s started (%s)", task.id, tool)
        return task

    async def _run(self, task: Task, work: Work) -> dict[str, Any]:
        try:
            task.result = await work(task.report)
            task.state = "completed"
        except asyncio.CancelledError:
            task.state = "cancelled"
            raise
        except JupysshError as exc:
            task.state, task.error = "failed", str(exc)
        except Exception as exc:  # a task's failure is its result, not the server's
            log.exception("task %s failed", task.id)
            task.state, task.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            task.finished = time.monotonic()
            task._bump()
            log.info("task %s %s", task.id, task.state)
        return task.result or {}

    def get(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise ConfigError(
                "no such task", where=task_id, hint="task_list shows the known tasks"
            ) from None

    def list(self) -> list[Task]:
        return list(self._tasks.values())

    async def wait(
        self,
        task_id: str,
        timeout: float,
        on_progress: Callable[[Progress], Awaitable[None]] | None = None,
    ) -> Task:
        """Wait at most ``timeout`` seconds for the task to finish; report each progress
        change through ``on_progress`` meanwhile. Returns the task, finished or not."""
        task = self.get(task_id)
        deadline = time.monotonic() + timeout
        while task.state == "running":
            left = deadline - time.monotonic()
            if left <= 0:
                break
            changed = task.changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
            if on_progress is not None and task.progress is not None and changed.is_set():
                await on_progress(task.progress)
        return task

    async def cancel(self, task_id: str, timeout: float = 10.0) -> Task:
        """Cancel a running task (its ``on_cancel`` first) and wait for it to end."""
        task = self.get(task_id)
        if task.state != "running" or task.runner is None:
            return task
        if task.on_cancel is not None:
            try:
                await task.on_cancel()
            except JupysshError as exc:
                log.warning("task %s: cancelling: %s", task.id, exc)
        task.runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task.runner), timeout)
        if task.runner.cancelled() and task.state == "running":
            # Cancelled before its work began: _run never ran to say so.
            task.state, task.finished = "cancelled", time.monotonic()
            task._bump()
        return task

    async def close(self) -> None:
        for task in self.list():
            if task.state == "running":
                await self.cancel(task.id)

    def _forget_old(self) -> None:
        finished = [t for t in self._tasks.values() if t.state != "running"]
        for task in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            del self._tasks[task.id]
