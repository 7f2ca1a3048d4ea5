"""``KernelConnection``: a kernel's channels over the Jupyter server's WebSocket.

Opens ``/api/kernels/<id>/channels`` with the token in the handshake's ``Authorization``
header, offering the ``v1.kernel.websocket.jupyter.org`` subprotocol; a server that does
not select it (older servers, ``kernel_ws_protocol=""``) gets the legacy JSON form
(``framing`` has both). One reader task decodes every incoming message and routes it:
replies to the request waiting for them, iopub output to the execution that caused it,
comm messages to their ``Comm``, and everything to handlers added with ``add_handler``.

``JupyterClient.connect_kernel`` / ``JupyterClient.kernel`` make these; the bridge and the
kernel provisioner use them to run code and to hold comms open. Every wait is bounded
(``OperationTimeout``); a lost connection fails every pending wait with
``KernelConnectionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

from websockets.exceptions import ConnectionClosed

from jupyssh.core.errors import ConfigError, KernelConnectionError, OperationTimeout
from jupyssh.core.jupyter.auth import redact
from jupyssh.core.jupyter.comm import Comm, CommOpenHandler, MessageHandler, call_handler
from jupyssh.core.jupyter.framing import (
    V1_SUBPROTOCOL,
    decode_legacy,
    decode_v1,
    encode_legacy,
    encode_v1,
)
from jupyssh.core.jupyter.messages import (
    Buffer,
    Channel,
    Message,
    comm_close_content,
    comm_open_content,
    execute_request_content,
    new_id,
    new_message,
)
from jupyssh.core.jupyter.urls import websocket_url
from jupyssh.core.jupyter.websocket import QuickAcks, connect_websocket

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "OUTPUT_TYPES",
    "ExecuteResult",
    "KernelConnection",
    "WebSocketLike",
    "WireProtocol",
]

log = logging.getLogger(__name__)

#: ``"auto"``: offer v1, accept legacy; ``"v1"``: require v1; ``"legacy"``: offer nothing.
WireProtocol = Literal["auto", "v1", "legacy"]
#: Largest message accepted from the server. jupyter_server (tornado) itself refuses
#: messages above 10 MiB from clients unless ``websocket_max_message_size`` is raised.
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: iopub message types that are an execution's output.
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "execute_result", "error", "update_display_data", "clear_output"}
)
_KERNEL_INFO_RETRY = 2.0  # seconds between kernel_info_requests while waiting for readiness


class WebSocketLike(Protocol):
    """The part of a websockets ``ClientConnection`` we use (tests pass a fake)."""

    @property
    def subprotocol(self) -> str | None: ...

    async def send(self, message: str | bytes) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...

    async def pong(self, data: bytes = b"") -> None: ...


#: Opens a WebSocket: ``(url, offered subprotocols)`` → an open connection.
WebSocketFactory = Callable[[str, Sequence[str]], Awaitable[WebSocketLike]]


@dataclass
class ExecuteResult:
    """What ``execute`` collected: the shell reply and every output, in order."""

    reply: Message
    outputs: list[Message] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok``, ``error`` or ``aborted``."""
        return str(self.reply.content.get("status", ""))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def execution_count(self) -> int | None:
        count = self.reply.content.get("execution_count")
        return count if isinstance(count, int) else None

    def stream_text(self, name: Literal["stdout", "stderr"] = "stdout") -> str:
        """Everything written to ``name``, joined."""
        return "".join(
            str(m.content.get("text", ""))
            for m in self.outputs
            if m.msg_type == "stream" and m.content.get("name") == name
        )

    @property
    def stdout(self) -> str:
        return self.stream_text("stdout")

    @property
    def stderr(self) -> str:
        return self.stream_text("stderr")

    @property
    def result(self) -> dict[str, Any] | None:
        """The ``execute_result`` mime bundle (``{"text/plain": "2"}``), if any."""
        for m in self.outputs:
            if m.msg_type == "execute_result":
                data = m.content.get("data")
                return data if isinstance(data, dict) else None
        return None

    @property
    def error(self) -> dict[str, Any] | None:
        """``ename``, ``evalue`` and ``traceback`` when the code raised."""
        if self.status != "error":
            return None
        return {k: self.reply.content.get(k) for k in ("ename", "evalue", "traceback")}


class _Execution:
    """Book-keeping for one execute_request: its outputs and its completion."""

    def __init__(self, on_output: MessageHandler | None) -> None:
        self.on_output = on_output
        self.outputs: list[Message] = []
        loop = asyncio.get_running_loop()
        self.reply: asyncio.Future[Message] = loop.create_future()
        self.idle: asyncio.Future[None] = loop.create_future()
        self.handler_error: BaseException | None = None

    async def handle_iopub(self, msg: Message) -> None:
        if msg.msg_type == "status" and msg.content.get("execution_state") == "idle":
            _resolve(self.idle, None)
        elif msg.msg_type in OUTPUT_TYPES:
            self.outputs.append(msg)
            if self.on_output is not None and self.handler_error is None:
                try:
                    await call_handler(self.on_output, msg)
                except Exception as exc:  # noqa: BLE001 - re-raised by execute()
                    self.handler_error = exc

    def fail(self, error: BaseException) -> None:
        for future in (self.reply, self.idle):
            if not future.done():
                future.set_exception(error)
                future.exception()  # marks it retrieved: nobody may be waiting any more


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class KernelConnection:
    """A WebSocket connection to one running kernel.

    Use ``async with`` (or ``open()`` and ``close()``). ``protocol`` is ``"v1"`` or
    ``"legacy"`` once open. ``interrupt`` is the REST call ``interrupt()`` uses
    (``JupyterClient`` passes its own). ``max_message_size`` bounds what we accept.
    ``quick_acks`` answers every small message received with an unsolicited pong, so
    that a small message the server writes next leaves at once instead of after our
    delayed ACK (:class:`~jupyssh.core.jupyter.websocket.QuickAcks`): for interactive users.
    """

    def __init__(
        self,
        base_url: str,
        kernel_id: str,
        *,
        token: str | None = None,
        protocol: WireProtocol = "auto",
        session_id: str | None = None,
        username: str = "jupyssh",
        open_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        interrupt: Callable[[str], Awaitable[None]] | None = None,
        websocket_factory: WebSocketFactory | None = None,
        quick_acks: bool = False,
    ) -> None:
        if protocol not in {"auto", "v1", "legacy"}:
            raise ConfigError(f"unknown kernel WebSocket protocol {protocol!r}")
        self.kernel_id = kernel_id
        self.session_id = session_id or new_id()
        self.username = username
        self.wanted_protocol: WireProtocol = protocol
        #: ``"v1"`` or ``"legacy"`` once open.
        self.protocol: Literal["v1", "legacy"] | None = None
        self.open_timeout = open_timeout
        self.max_message_size = max_message_size
        #: The kernel's last ``status``: ``starting``, ``busy``, ``idle``, ``restarting``, ``dead``.
        self.execution_state: str | None = None
        #: The ``kernel_info_reply`` content, once ``wait_ready`` got one.
        self.kernel_info: dict[str, Any] | None = None
        #: Open comms by id.
        self.comms: dict[str, Comm] = {}
        self._url = websocket_url(base_url, kernel_id, self.session_id)
        self._token = token
        self._ssl = ssl_context
        self._interrupt = interrupt
        self._factory: WebSocketFactory = websocket_factory or self._connect_websocket
        #: Answer every message with an unsolicited pong (:class:`QuickAcks`).
        self.quick_acks = quick_acks
        self._ws: WebSocketLike | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lost: KernelConnectionError | None = None
        self._replies: dict[str, asyncio.Future[Message]] = {}
        self._executions: dict[str, _Execution] = {}
        self._comm_targets: dict[str, CommOpenHandler] = {}
        self._handlers: list[MessageHandler] = []

    def __repr__(self) -> str:
        state = "open" if self._ws is not None else "closed"
        return (
            f"KernelConnection({self.kernel_id!r}, url={redact(self._url)!r}, "
            f"protocol={self.protocol!r}, {state})"
        )

    @property
    def where(self) -> str:
        """The kernel's WebSocket URL, for error messages (it holds no token)."""
        return redact(self._url)

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> KernelConnection:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> KernelConnection:
        """Open the WebSocket and start reading; returns ``self``.

        Raises ``JupyterAuthError`` (401/403), ``JupyterNotFoundError`` (no such kernel),
        ``OperationTimeout`` and ``KernelConnectionError`` (anything else, or a server
        that would not speak v1 when ``protocol="v1"`` was required).
        """
        if self._ws is not None:
            return self
        offered = [] if self.wanted_protocol == "legacy" else [V1_SUBPROTOCOL]
        ws = await self._factory(self._url, offered)
        selected = ws.subprotocol
        if self.wanted_protocol == "v1" and selected != V1_SUBPROTOCOL:
            await _close_quietly(ws)
            raise KernelConnectionError(
                f"the server did not select the {V1_SUBPROTOCOL} subprotocol",
                where=self.where,
                hint='use protocol="auto" to accept the legacy form',
            )
        self.protocol = "v1" if selected == V1_SUBPROTOCOL else "legacy"
        self._ws, self._lost = ws, None
        self._reader = asyncio.create_task(self._read_loop(ws), name=f"kernel {self.kernel_id}")
        self._reader.add_done_callback(functools.partial(self._reader_done, ws))
        log.debug("kernel %s connected (%s)", self.kernel_id, self.protocol)
        return self

    def _reader_done(self, ws: WebSocketLike, reader: asyncio.Task[None]) -> None:
        if reader.cancelled() and self._ws is ws:
            # Cancelled without close() (a loop stopping cancels every task, perhaps
            # before the reader even ran): nothing would close this socket any more, and
            # it would outlive its loop.
            _drop(ws)

    async def _connect_websocket(self, url: str, subprotocols: Sequence[str]) -> WebSocketLike:
        """Open the real WebSocket (core's shared opener: token header, typed errors)."""
        return await connect_websocket(
            url,
            token=self._token,
            what="kernel WebSocket",
            open_timeout=self.open_timeout,
            ssl_context=self._ssl,
            subprotocols=subprotocols,
            max_size=self.max_message_size,
            error=KernelConnectionError,
            not_found_hint="the kernel is gone: list kernels or start one",
        )

    async def close(self) -> None:
        """Close the WebSocket and stop reading (idempotent); pending waits fail."""
        ws, self._ws = self._ws, None
        reader, self._reader = self._reader, None
        if ws is not None:
            await _close_quietly(ws)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._fail_pending(KernelConnectionError("kernel connection closed", where=self.where))

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self._lost is None

    # --- sending -----------------------------------------------------------------------------

    def new_message(
        self,
        msg_type: str,
        content: Mapping[str, Any] | None = None,
        *,
        channel: Channel = "shell",
        metadata: Mapping[str, Any] | None = None,
        buffers: Sequence[Buffer] = (),
    ) -> Message:
        """A message from this connection's session."""
        return new_message(
            msg_type,
            content,
            session=self.session_id,
            channel=channel,
            username=self.username,
            metadata=metadata,
            buffers=buffers,
        )

    async def send(self, msg: Message) -> None:
        """Send ``msg`` on its channel, in the wire form the server selected."""
        ws = self._ws
        if ws is None or self._lost is not None:
            raise self._lost or KernelConnectionError(
                "kernel connection is not open", where=self.where
            )
        frame = encode_v1(msg) if self.protocol == "v1" else encode_legacy(msg)
        try:
            await ws.send(frame)
        except ConnectionClosed as exc:
            raise _lost_error(exc, self.where) from None
        log.debug("sent %s/%s %s", msg.channel, msg.msg_type, msg.msg_id)

    async def request(
        self,
        msg_type: str,
        content: Mapping[str, Any] | None = None,
        *,
        channel: Channel = "shell",
        buffers: Sequence[Buffer] = (),
        timeout: float | None = 60.0,
    ) -> Message:
        """Send a request and return its reply (the message whose parent it is)."""
        msg = self.new_message(msg_type, content, channel=channel, buffers=buffers)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._replies[msg.msg_id] = future
        try:
            await self.send(msg)
            reply: Message = await self._bounded(future, timeout, what=f"{msg_type} reply")
        finally:
            self._replies.pop(msg.msg_id, None)
        return reply

    async def _bounded(self, awaitable: Awaitable[Any], timeout: float | None, *, what: str) -> Any:
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError:
            raise OperationTimeout(
                f"no {what} from the kernel within {timeout:g} s",
                where=self.where,
                hint="the kernel may be busy: interrupt it, or raise the timeout",
            ) from None

    # --- kernel operations -------------------------------------------------------------------

    async def request_kernel_info(self, timeout: float | None = 60.0) -> dict[str, Any]:
        """The kernel's ``kernel_info_reply`` content (language, protocol version, …)."""
        reply = await self.request("kernel_info_request", timeout=timeout)
        self.kernel_info = reply.content
        return reply.content

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the kernel answers ``kernel_info_request``; return its content.

        A kernel just started may miss early requests, so one is sent every couple of
        seconds until one is answered or ``timeout`` runs out (``OperationTimeout``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise OperationTimeout(
                    f"the kernel did not become ready within {timeout:g} s",
                    where=self.where,
                    hint="see the Jupyter server's log for the kernel's start-up errors",
                )
            with contextlib.suppress(OperationTimeout):
                return await self.request_kernel_info(timeout=min(_KERNEL_INFO_RETRY, remaining))

    async def execute(
        self,
        code: str,
        *,
        on_output: MessageHandler | None = None,
        timeout: float | None = 60.0,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: Mapping[str, str] | None = None,
        stop_on_error: bool = True,
    ) -> ExecuteResult:
        """Run ``code``; return its reply and outputs once the kernel is idle again.

        ``on_output`` is called with each output message (``stream``, ``display_data``,
        ``execute_result``, ``error``, …) as it arrives; an exception it raises is
        re-raised here once the execution is over. A failing cell is not an exception:
        see ``ExecuteResult.ok`` and ``.error``. ``timeout`` bounds the whole run
        (``OperationTimeout``; the code keeps running: ``interrupt()`` stops it).
        """
        content = execute_request_content(
            code,
            silent=silent,
            store_history=store_history,
            user_expressions=user_expressions,
            stop_on_error=stop_on_error,
        )
        msg = self.new_message("execute_request", content)
        execution = _Execution(on_output)
        self._executions[msg.msg_id] = execution
        self._replies[msg.msg_id] = execution.reply
        try:
            await self.send(msg)
            reply: Message = await self._bounded(
                _reply_then_idle(execution), timeout, what="execute reply"
            )
        finally:
            self._executions.pop(msg.msg_id, None)
            self._replies.pop(msg.msg_id, None)
        if execution.handler_error is not None:
            raise execution.handler_error
        return ExecuteResult(reply=reply, outputs=execution.outputs)

    async def interrupt(self) -> None:
        """Interrupt the kernel through the server's REST API."""
        if self._interrupt is None:
            raise ConfigError(
                "this kernel connection has no REST client to interrupt with",
                hint="make it with JupyterClient.connect_kernel",
            )
        await self._interrupt(self.kernel_id)

    # --- handlers and comms ------------------------------------------------------------------

    def add_handler(self, handler: MessageHandler) -> None:
        """Call ``handler`` with every message received (after routing it)."""
        self._handlers.append(handler)

    def remove_handler(self, handler: MessageHandler) -> None:
        with contextlib.suppress(ValueError):
            self._handlers.remove(handler)

    def register_comm_target(self, target_name: str, handler: CommOpenHandler) -> None:
        """Accept comms the kernel opens for ``target_name``: ``handler(comm, comm_open)``."""
        self._comm_targets[target_name] = handler

    def unregister_comm_target(self, target_name: str) -> None:
        self._comm_targets.pop(target_name, None)

    async def open_comm(
        self,
        target_name: str,
        data: Mapping[str, Any] | None = None,
        *,
        buffers: Sequence[Buffer] = (),
        metadata: Mapping[str, Any] | None = None,
        comm_id: str | None = None,
        target_module: str | None = None,
    ) -> Comm:
        """Open a comm to the kernel's handler for ``target_name``.

        There is no reply: if the kernel has no such target it closes the comm (the
        ``Comm`` then reads as closed, and ``recv`` raises).
        """
        comm = Comm(self, comm_id or new_id(), target_name)
        self.comms[comm.comm_id] = comm
        content = comm_open_content(comm.comm_id, target_name, data, target_module=target_module)
        try:
            await self.send_comm_message("comm_open", content, buffers=buffers, metadata=metadata)
        except BaseException:
            self.comms.pop(comm.comm_id, None)
            raise
        return comm

    async def send_comm_message(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        buffers: Sequence[Buffer] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> Message:
        """Send a ``comm_open``/``comm_msg``/``comm_close`` on shell (``Comm`` calls this)."""
        msg = self.new_message(msg_type, content, metadata=metadata, buffers=buffers)
        await self.send(msg)
        if msg_type == "comm_close":
            self.comms.pop(str(content.get("comm_id")), None)
        return msg

    # --- receiving ---------------------------------------------------------------------------

    def _decode(self, frame: str | bytes) -> Message:
        if self.protocol == "v1":
            if isinstance(frame, str):
                raise ValueError("a text frame on a v1 connection")
            return decode_v1(frame)
        return decode_legacy(frame)

    async def _read_loop(self, ws: WebSocketLike) -> None:
        """Read and route every message until the connection ends."""
        acks = QuickAcks(ws) if self.quick_acks else None
        try:
            while True:
                frame = await ws.recv()
                if acks is not None:
                    acks.received(len(frame))
                try:
                    msg = self._decode(frame)
                except ValueError as exc:
                    log.warning("kernel %s: dropped a malformed message: %s", self.kernel_id, exc)
                    continue
                await self._dispatch(msg)
        except ConnectionClosed as exc:
            error = _lost_error(exc, self.where)
            if self._ws is ws:  # not closed by us
                log.warning("%s", error)
        except Exception as exc:  # a bug here must still fail every waiter
            log.exception("kernel %s: the message reader failed", self.kernel_id)
            error = KernelConnectionError(f"kernel message reader failed: {exc}", where=self.where)
        finally:
            if acks is not None:
                acks.close()
        self._lost = error
        self._fail_pending(error)

    async def _dispatch(self, msg: Message) -> None:
        parent = msg.parent_id
        if msg.channel == "iopub":
            if msg.msg_type == "status":
                self.execution_state = str(msg.content.get("execution_state"))
            elif msg.msg_type in {"comm_open", "comm_msg", "comm_close"}:
                await self._dispatch_comm(msg)
            execution = self._executions.get(parent or "")
            if execution is not None:
                await execution.handle_iopub(msg)
        elif msg.channel in {"shell", "control"}:
            future = self._replies.get(parent or "")
            if future is not None:
                _resolve(future, msg)
            else:
                log.debug("unrequested %s/%s", msg.channel, msg.msg_type)
        for handler in list(self._handlers):
            await self._guarded(handler, msg)

    async def _dispatch_comm(self, msg: Message) -> None:
        comm_id = str(msg.content.get("comm_id", ""))
        if msg.msg_type == "comm_open":
            await self._comm_opened_by_kernel(comm_id, msg)
            return
        comm = self.comms.get(comm_id)
        if comm is None:
            return  # another client's comm: iopub goes to every connection
        if msg.msg_type == "comm_msg":
            await self._guarded(comm._handle_msg, msg)
        else:
            self.comms.pop(comm_id, None)
            await self._guarded(comm._handle_close, msg)

    async def _comm_opened_by_kernel(self, comm_id: str, msg: Message) -> None:
        target = str(msg.content.get("target_name", ""))
        handler = self._comm_targets.get(target)
        if handler is None:
            # Like Jupyter frontends: refuse comms for targets nobody registered.
            log.debug("kernel opened comm %s for unknown target %r: closing it", comm_id, target)
            with contextlib.suppress(KernelConnectionError):
                await self.send_comm_message("comm_close", comm_close_content(comm_id))
            return
        comm = Comm(self, comm_id, target)
        self.comms[comm_id] = comm
        await self._guarded(handler, comm, msg)

    async def _guarded(self, handler: Callable[..., Awaitable[None] | None], *args: Any) -> None:
        # A failing handler must not stop the reader: every other waiter depends on it.
        try:
            await call_handler(handler, *args)
        except Exception:
            log.exception("kernel %s: a message handler failed", self.kernel_id)

    def _fail_pending(self, error: KernelConnectionError) -> None:
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
                future.exception()
        for execution in self._executions.values():
            execution.fail(error)
        for comm in list(self.comms.values()):
            comm._mark_closed()
        self.comms.clear()


async def _reply_then_idle(execution: _Execution) -> Message:
    # Reply (shell) and idle (iopub) travel on different sockets: either may come first.
    reply = await execution.reply
    await execution.idle
    return reply


async def _close_quietly(ws: WebSocketLike) -> None:
    """Close ``ws`` with its handshake; cancelled meanwhile (a server stopping cancels
    what still runs), drop its connection at once instead: the closing handshake may wait
    for the peer, and a socket left open then outlives its loop."""
    try:
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.close()
    except BaseException:
        _drop(ws)
        raise


def _drop(ws: WebSocketLike) -> None:
    """Drop ``ws``'s connection at once, without a closing handshake."""
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()


def _lost_error(exc: ConnectionClosed, where: str) -> KernelConnectionError:
    code = exc.rcvd.code if exc.rcvd is not None else None
    reason = exc.rcvd.reason if exc.rcvd is not None else ""
    detail = f" (close code {code}{': ' + reason if reason else ''})" if code is not None else ""
    hint = (
        "a message was larger than the server accepts (websocket_max_message_size)"
        if code == 1009
        else "the kernel may have died or the server stopped"
    )
    return KernelConnectionError(f"kernel connection lost{detail}", where=where, hint=hint)
