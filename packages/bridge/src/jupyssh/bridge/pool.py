"""Kernels for connections: started on demand, or taken from a pool kept warm.

With ``warm=N`` the pool keeps N kernels started ahead of time; a new connection takes
one (and the pool starts its replacement), so the connection skips the kernel's start-up.
Every kernel the pool started is deleted when the pool closes, or handed to a session,
which deletes it when its connection ends. A start cancelled while the server is making
the kernel (the connection ended, the pool closes) deletes it once its id comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from jupyssh.core.errors import JupysshError, JupyterNotFoundError
from jupyssh.core.jupyter import JupyterClient, KernelModel

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
        #: Deletions of kernels whose start was cancelled while the server made them.
        self._orphans: set[asyncio.Task[None]] = set()
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
            kernel_id = await self._start_kernel()
        except JupysshError as exc:
            log.warning("could not start a warm kernel: %s", exc)
            return
        if self._closed:
            await self.delete(kernel_id)
            return
        self.ready.append(kernel_id)
        log.debug("warm kernel %s ready", kernel_id)

    async def _start_kernel(self) -> str:
        """Start a kernel; its id. Cancelled meanwhile, the request still runs to its end
        (shielded): once the server has made the kernel, it is deleted, since the POST may
        well have reached the server and nobody else will learn that kernel's id."""
        starting = asyncio.ensure_future(self.client.start_kernel(self.kernel_name))
        try:
            model = await asyncio.shield(starting)
        except asyncio.CancelledError:
            task = asyncio.ensure_future(self._delete_once_started(starting))
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)
            raise
        return model["id"]

    async def _delete_once_started(self, starting: asyncio.Future[KernelModel]) -> None:
        try:
            model = await starting
        except JupysshError:
            return  # no kernel was made
        try:
            await self.delete(model["id"])
        except JupysshError as exc:
            log.warning(
                "could not delete kernel %s, whose start was cancelled: %s", model["id"], exc
            )

    async def take(self) -> str:
        """A kernel id for a new connection: a warm one if any, else a new kernel."""
        if self.ready:
            kernel_id = self.ready.pop(0)
            self.fill()
            return kernel_id
        self.fill()
        return await self._start_kernel()

    async def delete(self, kernel_id: str) -> None:
        """Shut a kernel down (gone already is fine)."""
        with contextlib.suppress(JupyterNotFoundError):
            await self.client.delete_kernel(kernel_id)

    async def close(self) -> None:
        """Stop filling and delete every kernel still waiting in the pool, and those whose
        start was cancelled (bounded: 30 s for each kind)."""
        self._closed = True
        for task in list(self._filling):
            task.cancel()
        if self._filling:
            await asyncio.wait(list(self._filling), timeout=30)
        if self._orphans:
            await asyncio.wait(list(self._orphans), timeout=30)
        ready, self.ready = self.ready, []
        for kernel_id in ready:
            try:
                await self.delete(kernel_id)
            except JupysshError as exc:
                log.warning("could not delete warm kernel %s: %s", kernel_id, exc)
