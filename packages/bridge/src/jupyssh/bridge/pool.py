"""Kernels for connections: started on demand, or taken from a pool kept warm.

With ``warm=N`` the pool keeps N kernels started ahead of time; a new connection takes
one (and the pool starts its replacement), so the connection skips the kernel's start-up.
Every kernel the pool started is deleted when the pool closes, or handed to a session,
which deletes it when its connection ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from jupyssh.core.errors import JupysshError, JupyterNotFoundError
from jupyssh.core.jupyter import JupyterClient

__all__ = ["KernelPool"]

log = logging.getLogger(__name__)


class KernelPool:
    """Start, hand out and delete kernels (all methods run on the bridge's loop)."""

    def __init__(self, client: JupyterClient, kernel_name: str | None, warm: int = 0) -> None:
        if warm < 0:
            raise ValueError("warm must not be negative")
        self.client = client
        self.kernel_name = kernel_name
        self.warm = warm
        #: Started kernels waiting for a connection (ids).
        self.ready: list[str] = []
        self._filling: set[asyncio.Task[None]] = set()
        self._closed = False

    def fill(self) -> None:
        """Start kernels until ``warm`` are ready or starting (returns at once)."""
        missing = self.warm - len(self.ready) - len(self._filling)
        for _ in range(max(0, missing)):
            task = asyncio.get_running_loop().create_task(self._start_one())
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)

    async def _start_one(self) -> None:
        try:
            model = await self.client.start_kernel(self.kernel_name)
        except JupysshError as exc:
            log.warning("could not start a warm kernel: %s", exc)
            return
        if self._closed:
            await self.delete(model["id"])
            return
        self.ready.append(model["id"])
        log.debug("warm kernel %s ready", model["id"])

    async def take(self) -> str:
        """A kernel id for a new connection: a warm one if any, else a new kernel."""
        if self.ready:
            kernel_id = self.ready.pop(0)
            self.fill()
            return kernel_id
        self.fill()
        model = await self.client.start_kernel(self.kernel_name)
        return model["id"]

    async def delete(self, kernel_id: str) -> None:
        """Shut a kernel down (gone already is fine)."""
        with contextlib.suppress(JupyterNotFoundError):
            await self.client.delete_kernel(kernel_id)

    async def close(self) -> None:
        """Stop filling and delete every kernel still waiting in the pool."""
        self._closed = True
        for task in list(self._filling):
            task.cancel()
        if self._filling:
            await asyncio.wait(list(self._filling), timeout=30)
        ready, self.ready = self.ready, []
        for kernel_id in ready:
            try:
                await self.delete(kernel_id)
            except JupysshError as exc:
                log.warning("could not delete warm kernel %s: %s", kernel_id, exc)
