"""Comms: long-lived, binary-capable channels between us and code in a kernel.

A comm is opened by either side for a *target* the other side registered (ipykernel:
``get_ipython().kernel.comm_manager.register_target``; us:
``KernelConnection.register_comm_target``). Messages then flow both ways as
``comm_msg`` with JSON ``data`` and raw binary ``buffers``: the bridge moves PTY bytes
this way, without base64 and without the iopub byte-rate limit on ``stream`` output.

``KernelConnection`` creates and routes ``Comm`` objects; users call ``send``, ``close``
and either give an ``on_msg`` handler or ``recv`` messages in order; ``async with`` a comm
closes it on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol

from jupyssh.core.errors import KernelConnectionError, OperationTimeout
from jupyssh.core.jupyter.messages import (
    Buffer,
    Message,
    comm_close_content,
    comm_msg_content,
)

__all__ = ["Comm", "CommOpenHandler", "MessageHandler", "call_handler"]

log = logging.getLogger(__name__)

#: Called with each message; may be a coroutine function. Called in the connection's
#: reader, in arrival order: it must not wait for kernel replies itself (start a task).
MessageHandler = Callable[[Message], Awaitable[None] | None]
#: Called when the kernel opens a comm for a target we registered.
CommOpenHandler = Callable[["Comm", Message], Awaitable[None] | None]


class _CommSender(Protocol):
    """What a comm needs from its connection: a way to send a shell message."""

    async def send_comm_message(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        buffers: Sequence[Buffer],
        metadata: Mapping[str, Any] | None,
    ) -> Message: ...


async def call_handler(handler: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Call a sync or async handler and wait for it."""
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


class Comm:
    """One comm on a kernel connection.

    Messages from the kernel go to the ``on_msg`` handler if one is set, otherwise into
    a queue that ``recv`` reads (set one or the other, or the queue grows).
    """

    def __init__(self, sender: _CommSender, comm_id: str, target_name: str) -> None:
        self.comm_id = comm_id
        self.target_name = target_name
        self.closed = False
        #: The ``comm_close`` message if the kernel closed the comm.
        self.close_message: Message | None = None
        self._sender = sender
        self._on_msg: MessageHandler | None = None
        self._on_close: MessageHandler | None = None
        # None marks the end of the stream, for recv.
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Comm({self.comm_id!r}, target={self.target_name!r}, {state})"

    async def __aenter__(self) -> Comm:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A lost connection already ended the comm on the kernel's side too.
        with contextlib.suppress(KernelConnectionError):
            await self.close()

    def on_msg(self, handler: MessageHandler | None) -> None:
        """Handle each ``comm_msg`` from the kernel with ``handler`` instead of the queue."""
        self._on_msg = handler

    def on_close(self, handler: MessageHandler | None) -> None:
        """Call ``handler`` with the kernel's ``comm_close``."""
        self._on_close = handler

    async def send(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        buffers: Sequence[Buffer] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Send a ``comm_msg`` with JSON ``data`` and binary ``buffers`` to the kernel."""
        if self.closed:
            raise KernelConnectionError(f"comm {self.comm_id} is closed")
        await self._sender.send_comm_message(
            "comm_msg",
            comm_msg_content(self.comm_id, data),
            buffers=buffers,
            metadata=metadata,
        )

    async def close(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        buffers: Sequence[Buffer] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Close the comm (idempotent): tell the kernel, end ``recv``."""
        if self.closed:
            return
        self._mark_closed()
        await self._sender.send_comm_message(
            "comm_close",
            comm_close_content(self.comm_id, data),
            buffers=buffers,
            metadata=metadata,
        )

    async def recv(self, timeout: float | None = None) -> Message:
        """The next ``comm_msg`` from the kernel.

        Raises ``KernelConnectionError`` once the comm is closed and drained, and
        ``OperationTimeout`` after ``timeout`` seconds.
        """
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise OperationTimeout(
                f"no message on comm {self.comm_id} within {timeout:g} s"
            ) from None
        if item is None:
            self._queue.put_nowait(None)  # every later recv ends the same way
            raise KernelConnectionError(f"comm {self.comm_id} is closed")
        return item

    # --- called by KernelConnection's reader ---------------------------------------------------

    async def _handle_msg(self, msg: Message) -> None:
        if self._on_msg is not None:
            await call_handler(self._on_msg, msg)
        else:
            self._queue.put_nowait(msg)

    async def _handle_close(self, msg: Message | None) -> None:
        self.close_message = msg
        self._mark_closed()
        if self._on_close is not None and msg is not None:
            await call_handler(self._on_close, msg)

    def _mark_closed(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)
