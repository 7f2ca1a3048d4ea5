"""jupyssh.bridge.pool: kernels started on demand or kept warm, and none left behind when a
start is cancelled while the server is making the kernel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyssh.bridge.pool import KernelPool
from jupyssh.core.errors import JupyterError

from .conftest import FakeJupyter

pytestmark = pytest.mark.asyncio


class SlowStarts(FakeJupyter):
    """A server that makes each kernel once ``make`` is set, whether or not the client is
    still waiting for the answer: the POST has reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.make = asyncio.Event()
        self.asked = asyncio.Event()
        self._making: set[asyncio.Task[dict[str, Any]]] = set()

    async def start_kernel(self, name: str | None = None, **options: Any) -> dict[str, Any]:
        self.asked.set()
        making = asyncio.ensure_future(self._make(name, **options))
        self._making.add(making)  # the server's work, which a client's cancel does not stop
        return await asyncio.shield(making)

    async def _make(self, name: str | None, **options: Any) -> dict[str, Any]:
        await self.make.wait()
        return await FakeJupyter.start_kernel(self, name, **options)

    async def made(self) -> None:
        """Wait until the server has finished every kernel it was asked for."""
        await asyncio.gather(*self._making, return_exceptions=True)


async def test_a_take_cancelled_while_the_server_makes_the_kernel_deletes_it() -> None:
    server = SlowStarts()
    pool = KernelPool(server, None)  # type: ignore[arg-type]
    taking = asyncio.ensure_future(pool.take())
    await server.asked.wait()
    taking.cancel()  # the connection ended during its kernel's start
    with pytest.raises(asyncio.CancelledError):
        await taking
    server.make.set()  # the server finishes making the kernel all the same
    await server.made()
    await pool.close()
    assert server.started == ["kernel-0"]
    assert server.deleted == ["kernel-0"]


async def test_closing_while_a_warm_kernel_is_being_made_deletes_it() -> None:
    server = SlowStarts()
    pool = KernelPool(server, None, warm=1)  # type: ignore[arg-type]
    pool.fill()
    await server.asked.wait()
    closing = asyncio.ensure_future(pool.close())
    await asyncio.sleep(0)  # close() has cancelled the fill
    server.make.set()
    await closing
    await server.made()
    assert server.started == ["kernel-0"]
    assert server.deleted == ["kernel-0"]
    assert pool.ready == []


async def test_a_start_that_fails_leaves_nothing_to_delete() -> None:
    class Refuses(SlowStarts):
        async def _make(self, name: str | None, **options: Any) -> dict[str, Any]:
            await self.make.wait()
            raise JupyterError("no kernel for you")

    server = Refuses()
    pool = KernelPool(server, None)  # type: ignore[arg-type]
    taking = asyncio.ensure_future(pool.take())
    await server.asked.wait()
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    server.make.set()
    await server.made()
    await pool.close()
    assert server.deleted == []
