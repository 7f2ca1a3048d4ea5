"""jupyssh-kernel's tools: Jupyter kernels on the allowed ssh aliases.

A kernel is started from a jupyssh kernelspec (``jupyssh kernel add NAME ALIAS``) through
jupyter_client, as JupyterLab starts it, so it survives what a JupyterLab kernel survives.
An execute runs as a task: it returns at once, its outputs arrive in the task's result
(text, errors, and images as base64 with their MIME type), and cancelling it interrupts
the kernel, which then answers the next execute.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir

from jupyssh.core.errors import ConfigError, KernelConnectionError, OperationTimeoutError
from jupyssh.kernel.specs import list_specs
from jupyssh.mcp.providers import slurm
from jupyssh.mcp.tasks import Reporter
from jupyssh.mcp.toolset import Services, ToolSet

__all__ = ["register"]

#: Output MIME types passed on, richest first; images travel as base64.
_IMAGES = ("image/png", "image/jpeg", "image/svg+xml")
_START_TIMEOUT = 120.0
#: How long one wait for a kernel message lasts before the task reports progress again.
_TICK = 1.0
#: How long the execute reply may lag the kernel's idle status.
_REPLY_TIMEOUT = 30.0


@dataclass
class _Kernel:
    id: str
    spec: str
    alias: str
    manager: AsyncKernelManager
    client: AsyncKernelClient
    started: float = field(default_factory=time.monotonic)
    # One execute at a time reads the kernel's messages.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def to_dict(self) -> dict[str, Any]:
        data = {"kernel_id": self.id, "spec": self.spec, "alias": self.alias}
        job = getattr(self.manager.provisioner, "job", None)
        if job:  # a Slurm kernel: its job, and the compute node it runs on
            data.update(job=str(job), node=str(getattr(self.manager.provisioner, "node", "")))
        return data


def register(tools: ToolSet) -> None:
    """Add the kernel tools, and the Slurm job tools (jupyssh-kernel brings Slurm)."""
    kernels = _KernelTools(tools.services)
    tools.services.closers.append(kernels.close)
    tools.add(kernels.kernel_specs, read_only=True)
    tools.add(kernels.kernel_list, read_only=True)
    tools.add(kernels.kernel_start, read_only=False)
    tools.add(kernels.kernel_execute, read_only=False)
    tools.add(kernels.kernel_interrupt, read_only=False)
    tools.add(kernels.kernel_restart, read_only=False)
    tools.add(kernels.kernel_shutdown, read_only=False)
    slurm.register(tools)


class _KernelTools:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.kernels: dict[str, _Kernel] = {}
        self._ids = itertools.count(1)

    async def kernel_specs(self) -> dict[str, Any]:
        """List the jupyssh kernelspecs (remote kernels), each with its ssh alias and
        whether the allowlist lets it start."""
        specs = []
        for row in list_specs():
            if row["ssh"]:
                alias = str(row["options"].get("host", ""))
                specs.append(
                    {
                        "name": row["name"],
                        "display_name": row["display_name"],
                        "alias": alias,
                        "scheduler": str(row["options"].get("scheduler") or "none"),
                        "allowed": self.services.settings.allowed(alias),
                    }
                )
        return {"specs": specs}

    async def kernel_list(self) -> dict[str, Any]:
        """List the kernels this server started and that still run."""
        return {"kernels": [kernel.to_dict() for kernel in self.kernels.values()]}

    async def kernel_start(
        self, spec: str, timeout: float = _START_TIMEOUT, wait: bool = True
    ) -> dict[str, Any]:
        """Start a kernel from a jupyssh kernelspec on its (allowed) ssh alias and wait
        until it answers (at most `timeout` seconds); returns its kernel_id, and for a
        Slurm spec its job and node. With wait=false it runs as a task and returns its
        task_id at once: a Slurm start that queues reports the job's state and the
        scheduler's reason as progress, and task_cancel cancels the job."""
        alias = self._alias_of(spec)
        self.services.settings.check_alias(alias)
        if wait:
            return await self._start(spec, alias, timeout, None)

        async def work(report: Reporter) -> dict[str, Any]:
            return await self._start(spec, alias, timeout, report)

        return self.services.tasks.start("kernel_start", work).to_dict()

    async def _start(
        self, spec: str, alias: str, timeout: float, report: Reporter | None
    ) -> dict[str, Any]:
        manager = AsyncKernelManager(kernel_name=spec, connection_file=_connection_file())
        client: AsyncKernelClient | None = None
        starting = asyncio.ensure_future(manager.start_kernel())
        try:
            await _progress_until(starting, manager, timeout, report)
            client = manager.client()  # after the start: it copies the connection info
            client.start_channels()
            await client.wait_for_ready(timeout=timeout)
        except BaseException as exc:
            # Halfway (queued, started, not answering): nothing may be left running.
            if not starting.done():
                starting.cancel()  # the provisioner cancels a queued job
                with contextlib.suppress(BaseException):
                    await starting
            if client is not None:
                client.stop_channels()
            if manager.has_kernel:
                await manager.shutdown_kernel(now=True)
            # a start cancelled while its job queued leaves the connection file (its key)
            manager.cleanup_connection_file()
            if isinstance(exc, (asyncio.TimeoutError, RuntimeError)):
                raise OperationTimeoutError(
                    f"the kernel did not answer within {timeout:g} s ({exc or 'timeout'})",
                    where=spec,
                    hint="check the spec with `jupyssh kernel launch`, or raise the timeout",
                ) from exc
            raise
        kernel = _Kernel(f"kernel-{next(self._ids)}", spec, alias, manager, client)
        self.kernels[kernel.id] = kernel
        return kernel.to_dict()

    async def kernel_execute(self, kernel_id: str, code: str) -> dict[str, Any]:
        """Run code in a kernel as a task: returns a task_id at once; task_wait gives
        progress and, at the end, the outputs (text, errors, images as base64) and the
        status. task_cancel interrupts the kernel."""
        kernel = self._get(kernel_id)

        async def work(report: Reporter) -> dict[str, Any]:
            async with kernel.lock:
                return await _execute(kernel, code, report)

        task = self.services.tasks.start(
            "kernel_execute", work, on_cancel=kernel.manager.interrupt_kernel
        )
        return task.to_dict()

    async def kernel_interrupt(self, kernel_id: str) -> dict[str, Any]:
        """Interrupt what a kernel runs (as Ctrl+C would)."""
        kernel = self._get(kernel_id)
        await kernel.manager.interrupt_kernel()
        return {**kernel.to_dict(), "interrupted": True}

    async def kernel_restart(
        self, kernel_id: str, timeout: float = _START_TIMEOUT
    ) -> dict[str, Any]:
        """Restart a kernel (its variables are lost) and wait until it answers again."""
        kernel = self._get(kernel_id)
        async with kernel.lock:
            await kernel.manager.restart_kernel()
            try:
                await kernel.client.wait_for_ready(timeout=timeout)
            except RuntimeError as exc:
                raise OperationTimeoutError(
                    f"the kernel did not answer within {timeout:g} s after its restart",
                    where=kernel_id,
                ) from exc
        return {**kernel.to_dict(), "restarted": True}

    async def kernel_shutdown(self, kernel_id: str) -> dict[str, Any]:
        """Shut a kernel down and forget it."""
        kernel = self._get(kernel_id)
        del self.kernels[kernel_id]
        kernel.client.stop_channels()
        await kernel.manager.shutdown_kernel()
        return {**kernel.to_dict(), "shut_down": True}

    async def close(self) -> None:
        for kernel_id in list(self.kernels):
            await self.kernel_shutdown(kernel_id)

    def _get(self, kernel_id: str) -> _Kernel:
        try:
            return self.kernels[kernel_id]
        except KeyError:
            raise ConfigError(
                "no such kernel", where=kernel_id, hint="kernel_list shows the running ones"
            ) from None

    def _alias_of(self, spec: str) -> str:
        for row in list_specs():
            if row["name"] == spec and row["ssh"]:
                return str(row["options"].get("host", ""))
        raise ConfigError("no such jupyssh kernelspec", where=spec, hint="kernel_specs lists them")


async def _progress_until(
    starting: asyncio.Future[Any],
    manager: AsyncKernelManager,
    timeout: float,
    report: Reporter | None,
) -> None:
    """Wait for a kernel's start, at most ``timeout`` seconds; meanwhile report what a
    Slurm start says of its job (submitted, pending and why), or the time waited."""
    started = time.monotonic()
    while not starting.done():
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise asyncio.TimeoutError
        await asyncio.wait({starting}, timeout=min(_TICK, left))
        if report is not None and not starting.done():
            elapsed = time.monotonic() - started
            status = dict(getattr(manager.provisioner, "job_status", None) or {})
            if status:
                reason = status.get("reason") or "no reason given"
                state = str(status.get("state", "submitted")).lower()
                message = f"job {status.get('job')} {state} ({reason})"
            else:
                message = f"starting for {elapsed:.0f} s"
            report(elapsed, timeout, message)
    starting.result()


def _connection_file() -> str:
    """A new kernel's connection file (it holds the HMAC key) in Jupyter's private runtime
    folder, named as a Jupyter server names them, rather than a stray temporary file."""
    folder = Path(jupyter_runtime_dir())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(folder / f"kernel-{uuid.uuid4()}.json")


async def _execute(kernel: _Kernel, code: str, report: Reporter) -> dict[str, Any]:
    client = kernel.client
    msg_id = client.execute(code)
    outputs: list[dict[str, Any]] = []
    started = time.monotonic()
    while True:  # until the kernel is idle again, or dead
        try:
            msg = await client.get_iopub_msg(timeout=_TICK)
        except Exception:  # noqa: BLE001 - queue.Empty: nothing yet, say we still run
            if not await kernel.manager.is_alive():
                raise KernelConnectionError(
                    "the kernel died while it ran the code",
                    where=kernel.id,
                    hint="start another with kernel_start",
                ) from None
            elapsed = time.monotonic() - started
            report(elapsed, None, f"running for {elapsed:.0f} s, {len(outputs)} outputs")
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        output = _output(kind, content)
        if output is not None:
            outputs.append(output)
    deadline = time.monotonic() + _REPLY_TIMEOUT
    while True:  # skip stale replies (kernel_info requests answered late); bounded
        left = deadline - time.monotonic()
        if left <= 0:
            raise OperationTimeoutError("the kernel sent no execute reply", where=kernel.id)
        reply = await client.get_shell_msg(timeout=left)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return {"status": reply["content"]["status"], "outputs": outputs}


def _output(kind: str, content: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "stream":
        return {"type": "stream", "name": content["name"], "text": content["text"]}
    if kind == "error":
        return {
            "type": "error",
            "ename": content["ename"],
            "evalue": content["evalue"],
            "traceback": content["traceback"],
        }
    if kind in ("execute_result", "display_data"):
        data = content.get("data", {})
        for mime in _IMAGES:
            if mime in data:
                return {"type": "image", "mime_type": mime, "data": data[mime]}
        return {"type": kind, "text": str(data.get("text/plain", ""))}
    return None
