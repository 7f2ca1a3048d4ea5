"""One SSH connection's kernel: start it, install the agent, multiplex channels over a comm.

Runs on the bridge's loop (:class:`~jupyssh.bridge.loop.LoopThread`). paramiko's threads
call only :meth:`KernelSession.post` (queue a message to the agent) and
:meth:`KernelSession.attach` (register a channel); the messages leave in the order posted,
through one sender task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.resources
import logging
import platform
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from jupyssh.bridge import agent
from jupyssh.bridge._version import __version__
from jupyssh.bridge.errors import AgentError, ReaderUnavailableError
from jupyssh.bridge.pool import KernelPool
from jupyssh.bridge.reader import ReaderChoice, compiled_module_path
from jupyssh.core.errors import JupysshError, KernelConnectionError, OperationTimeout
from jupyssh.core.jupyter import Comm, JupyterClient, KernelConnection, Message

__all__ = ["AgentError", "ChannelSink", "KernelSession", "agent_source", "compiled_reader_for"]

log = logging.getLogger(__name__)

#: Seconds a session may take to start its kernel and agent. Generous: a server starting
#: many kernels at once (20 connections opening together) answers slowly.
START_TIMEOUT = 180.0
#: Exit status when the kernel could not run the request at all (as ssh's own 255).
FAILED = 255
#: Seconds the kernel's WebSocket may take to open (the server lets it open only once
#: the new kernel answers).
OPEN_TIMEOUT = 120.0


def agent_source() -> str:
    """The agent module's source, as installed (executed in each kernel as one cell)."""
    return importlib.resources.files("jupyssh.bridge").joinpath("agent.py").read_text("utf-8")


def pure_reader_source() -> bytes:
    """The pure reader's source, sent to kernels that load no compiled reader."""
    return importlib.resources.files("jupyssh.bridge").joinpath("_reader_py.py").read_bytes()


def compiled_reader_for(hello: dict[str, Any]) -> Path | None:
    """The compiled reader to ship into a kernel described by its agent's ``hello``, or
    ``None`` when there is none or the kernel's platform or Python ABI differ."""
    path = compiled_module_path()
    if path is None:
        return None
    if (
        hello.get("soabi") != sysconfig.get_config_var("SOABI")
        or hello.get("ext_suffix") != sysconfig.get_config_var("EXT_SUFFIX")
        or hello.get("machine") != platform.machine()
        or hello.get("system") != platform.system()
    ):
        return None
    ours = platform.libc_ver()
    theirs = hello.get("libc") or ["", ""]
    if ours[0] != theirs[0] or _version(theirs[1]) < _version(ours[1]):
        return None  # built against a newer C library than the kernel has
    return Path(path)


def _why_not_compiled(hello: dict[str, Any]) -> str:
    """Why a kernel described by ``hello`` runs the pure reader (for the error)."""
    if compiled_module_path() is None:
        return "the bridge has no compiled reader (a pure build, or JUPYSSH_NO_EXTENSIONS=1)"
    if compiled_reader_for(hello) is None:
        return (
            f"its Python ({hello.get('soabi')}, {hello.get('machine')}, "
            f"{' '.join(hello.get('libc') or [])}) does not match the bridge's "
            f"({sysconfig.get_config_var('SOABI')}, {platform.machine()}, "
            f"{' '.join(platform.libc_ver())})"
        )
    return "it could not load the module the bridge sent"


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in str(text).split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


class ChannelSink(Protocol):
    """What a session delivers agent messages to (a :class:`~jupyssh.bridge.channel.
    BridgeChannel`); every method runs on the loop and must not block."""

    def on_output(self, fd: int, data: bytes) -> None: ...

    def on_stdin_ack(self, size: int) -> None: ...

    def on_exit(self, status: int, signal: str | None) -> None:
        """The process ended with ``status``; ``signal`` names the signal that ended it
        (``"TERM"``), if one did."""

    def on_error(self, message: str, status: int) -> None:
        """The request could not be run (or the kernel was lost): end with ``status``."""

    def on_eof(self) -> None:
        """The forwarded connection's peer sent EOF (forwards only)."""


#: Delivers one agent message to its channel: (channel number, sink, data, buffers).
_Route = Callable[[int, ChannelSink, dict[str, Any], Sequence[bytes]], None]


class KernelSession:
    """The kernel of one SSH connection and the agent's comm in it.

    Made on paramiko's transport thread (cheap; nothing starts); :meth:`start` runs on
    the loop. ``ready`` resolves once the agent has loaded its reader, or fails.
    """

    def __init__(
        self,
        client: JupyterClient,
        pool: KernelPool,
        name: str,
        *,
        reader: ReaderChoice = "auto",
        ship_compiled: bool = True,
    ) -> None:
        self.client = client
        self.pool = pool
        self.name = name
        #: The reader the kernel is to run (see :func:`~jupyssh.bridge.reader.
        #: kernel_reader_choice`); ``pure`` never sends the compiled module.
        self.reader = reader
        self.ship_compiled = ship_compiled and reader != "pure"
        self.kernel_id: str | None = None
        #: The kernel's process id on its host (from the agent's hello).
        self.kernel_pid: int | None = None
        #: The reader the kernel runs, as its agent reported (``"compiled"``/``"pure"``),
        #: and where it came from (``installed``, ``shipped``, ``pure``).
        self.reader_impl: str | None = None
        self.reader_source: str | None = None
        #: What the agent's readers cost for the channels that ended: CPU seconds spent
        #: reading (in the kernel), and the bytes they read.
        self.reader_cpu = 0.0
        self.reader_bytes = 0
        self.ready: asyncio.Future[None] | None = None
        self._connection: KernelConnection | None = None
        self._comm: Comm | None = None
        self._outbox: asyncio.Queue[tuple[dict[str, Any], Sequence[bytes]] | None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._channels: dict[int, ChannelSink] = {}
        self._closed = False
        #: The task running :meth:`start`, while it runs (``close`` cancels it).
        self._starting: asyncio.Task[None] | None = None
        #: Requests to the agent waiting for its ``reply``, by number.
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._requests = 0
        #: Called with each ``accepted`` message (a remote forward's new connection).
        self.on_accepted: Callable[[dict[str, Any]], None] | None = None
        #: The agent's messages for a channel, by ``op``.
        self._routes: dict[str, _Route] = {
            "out": self._on_output,
            "ack": self._on_stdin_ack,
            "exit": self._on_exit,
            "error": self._on_error,
            "eof": self._on_eof,
        }

    # --- lifecycle (loop) --------------------------------------------------------------------

    async def start(self) -> None:
        """Take a kernel, connect, install the agent and its reader (bounded)."""
        loop = asyncio.get_running_loop()
        if self.ready is None:
            self.ready = loop.create_future()
        if self._closed:  # the connection ended before its start was scheduled
            self._fail(AgentError("the connection ended before its kernel started"))
            return
        self._outbox = asyncio.Queue()
        self._starting = asyncio.current_task()
        try:
            await asyncio.wait_for(self._start_once_more_if_lost(), START_TIMEOUT)
        except asyncio.TimeoutError:
            error: BaseException = OperationTimeout(
                f"the kernel and agent did not start within {START_TIMEOUT:g} s",
                where=self.client.base_url,
            )
            self._fail(error)
        except (JupysshError, OSError) as exc:
            self._fail(exc)
        except asyncio.CancelledError:
            self._fail(AgentError("the connection ended or the bridge stopped meanwhile"))
            raise
        else:
            if not self.ready.done():
                self.ready.set_result(None)
        finally:
            self._starting = None

    def _fail(self, error: BaseException) -> None:
        log.warning("%s: %s", self.name, error)
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: a session nobody waits on logs no warning

    async def _start_once_more_if_lost(self) -> None:
        """:meth:`_start`; once more, with another kernel, if the kernel's WebSocket was
        lost meanwhile (a Jupyter server starting many kernels at once on a busy host was
        seen to drop one)."""
        try:
            await self._start()
        except KernelConnectionError as exc:
            if self._closed:
                raise
            log.info("%s: %s while starting; starting another kernel", self.name, exc)
            await self._abandon_start()
            await self._start()

    async def _abandon_start(self) -> None:
        """Close what a failed start opened and delete its kernel (each step bounded)."""
        connection, self._connection, self._comm = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(connection.close(), 5.0)
        kernel_id, self.kernel_id = self.kernel_id, None
        if kernel_id is not None:
            with contextlib.suppress(JupysshError):
                await self.pool.delete(kernel_id)

    async def _start(self) -> None:
        self.kernel_id = await self.pool.take()
        if self._closed:
            return
        # quick acks: a keystroke's echo follows the kernel's busy/idle status messages,
        # and would otherwise wait ~40 ms for our delayed ACK (see QuickAcks)
        connection = self.client.connect_kernel(
            self.kernel_id, open_timeout=OPEN_TIMEOUT, quick_acks=True
        )
        self._connection = connection
        await connection.open()
        await connection.wait_ready(timeout=OPEN_TIMEOUT)
        result = await connection.execute(
            agent_source(), silent=True, store_history=False, timeout=30.0
        )
        if not result.ok:
            error = result.error or {}
            raise AgentError(
                f"the agent failed to install: {error.get('ename')}: {error.get('evalue')}",
                where=connection.where,
            )
        comm = await connection.open_comm(agent.TARGET)
        self._comm = comm
        hello = (await comm.recv(timeout=30.0)).content.get("data") or {}
        if hello.get("op") != "hello" or hello.get("protocol") != agent.PROTOCOL:
            raise AgentError(f"the agent answered {hello.get('op')!r}, not hello")
        self.kernel_pid = int(hello["pid"]) if "pid" in hello else None
        data, buffers = self._reader_message(hello)
        await comm.send(data, buffers=buffers)
        ready = (await comm.recv(timeout=30.0)).content.get("data") or {}
        if ready.get("op") != "ready":
            raise AgentError(f"the agent answered {ready.get('op')!r}, not ready")
        self.reader_impl = str(ready.get("impl"))
        self.reader_source = str(ready.get("source"))
        if self.reader == "compiled" and self.reader_impl != "compiled":
            raise ReaderUnavailableError(
                f"the kernel cannot run the compiled reader: {_why_not_compiled(hello)}",
                where=connection.where,
                hint="serve with the auto or pure reader",
            )
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(comm))
        log.info(
            "%s: kernel %s ready (python %s); it runs the %s reader (%s; %s asked)",
            self.name,
            self.kernel_id,
            hello.get("python"),
            self.reader_impl,
            self.reader_source,
            self.reader,
        )

    def _reader_message(self, hello: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        buffers = [pure_reader_source()]
        data: dict[str, Any] = {
            "op": "reader",
            "want": self.reader,
            "compiled": None,
            "version": __version__,
        }
        compiled = compiled_reader_for(hello) if self.ship_compiled else None
        if compiled is not None and hello.get("installed") != __version__:
            blob = compiled.read_bytes()
            buffers.append(blob)
            data.update(compiled=compiled.name, sha256=hashlib.sha256(blob).hexdigest())
        return data, buffers

    async def close(self) -> None:
        """Stop every process, close the comm and the kernel connection, delete the
        kernel (each step bounded; runs once)."""
        if self._closed:
            return
        self._closed = True
        starting = self._starting
        if starting is not None and starting is not asyncio.current_task():
            # A start still under way would go on to open the kernel's WebSocket after
            # this close, and nothing would close it: stop it first (a handshake cut short
            # drops its socket), so that what it opened is closed below.
            starting.cancel()
            await asyncio.wait({starting}, timeout=5.0)
        if self._outbox is not None:
            self._outbox.put_nowait(None)
        if self._sender is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._sender, 5.0)
        if self._comm is not None:
            with contextlib.suppress(KernelConnectionError, OSError):
                await asyncio.wait_for(self._comm.close(), 5.0)
        if self._connection is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._connection.close(), 5.0)
        if self.kernel_id is not None:
            try:
                await self.pool.delete(self.kernel_id)
            except JupysshError as exc:
                log.warning("%s: could not delete kernel %s: %s", self.name, self.kernel_id, exc)
            else:
                log.info("%s: kernel %s deleted", self.name, self.kernel_id)

    # --- channels (any thread) -----------------------------------------------------------

    def attach(self, number: int, sink: ChannelSink) -> None:
        """Deliver the agent's messages for channel ``number`` to ``sink`` (loop)."""
        self._channels[number] = sink

    def detach(self, number: int) -> None:
        """Stop delivering channel ``number``'s messages (loop)."""
        self._channels.pop(number, None)

    def post(self, data: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
        """Queue a message to the agent (loop only; threads go through ``LoopThread.call``)."""
        if self._outbox is not None and not self._closed:
            self._outbox.put_nowait((data, buffers))

    async def _send_loop(self, comm: Comm) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        while True:
            try:
                item = await asyncio.wait_for(outbox.get(), 1.0)
            except asyncio.TimeoutError:
                if not self._alive():
                    self._lost("the kernel died, restarted or its connection was lost")
                    return
                continue
            if item is None:
                # the connection ended: kill what still runs before the kernel goes
                for number in list(self._channels):
                    with contextlib.suppress(KernelConnectionError):
                        await comm.send({"op": "kill", "ch": number})
                return
            data, buffers = item
            try:
                await comm.send(data, buffers=buffers)
            except KernelConnectionError as exc:
                self._lost(f"the kernel connection was lost: {exc}")
                return

    def _alive(self) -> bool:
        connection = self._connection
        if connection is None or not connection.is_open:
            return False
        return connection.execution_state not in {"dead", "restarting"}

    # --- from the agent (loop) -----------------------------------------------------------------

    async def request(self, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``data`` to the agent and return its ``reply`` (raises
        ``asyncio.TimeoutError`` after ``timeout`` s, :class:`AgentError` if the session
        could not start or was lost)."""
        if self.ready is None:
            raise AgentError("the connection's kernel session was never started")
        await self.ready
        self._requests += 1
        number = self._requests
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[number] = future
        try:
            self.post({**data, "req": number})
            return await asyncio.wait_for(future, timeout)
        finally:
            self._replies.pop(number, None)

    def _on_msg(self, msg: Message) -> None:
        data = msg.content.get("data") or {}
        op = data.get("op")
        if op == "reply":
            future = self._replies.get(int(data.get("req", -1)))
            if future is not None and not future.done():
                future.set_result(data)
            return
        if op == "accepted":
            if self.on_accepted is not None:
                self.on_accepted(data)
            return
        number = int(data.get("ch", -1))
        sink = self._channels.get(number)
        route = self._routes.get(str(data.get("op")))
        if sink is not None and route is not None:
            route(number, sink, data, msg.buffers)

    def _on_output(
        self, number: int, sink: ChannelSink, data: dict[str, Any], buffers: Sequence[bytes]
    ) -> None:
        sink.on_output(int(data.get("fd", 1)), b"".join(bytes(b) for b in buffers))

    def _on_stdin_ack(
        self, number: int, sink: ChannelSink, data: dict[str, Any], buffers: Sequence[bytes]
    ) -> None:
        sink.on_stdin_ack(int(data.get("n", 0)))

    def _on_exit(
        self, number: int, sink: ChannelSink, data: dict[str, Any], buffers: Sequence[bytes]
    ) -> None:
        self._channels.pop(number, None)
        self._count(data)
        signal = data.get("signal")
        sink.on_exit(int(data.get("status", FAILED)), None if signal is None else str(signal))

    def _on_error(
        self, number: int, sink: ChannelSink, data: dict[str, Any], buffers: Sequence[bytes]
    ) -> None:
        self._channels.pop(number, None)
        message = str(data.get("message", "the agent failed"))
        sink.on_error(message, int(data.get("status", FAILED)))

    def _on_eof(
        self, number: int, sink: ChannelSink, data: dict[str, Any], buffers: Sequence[bytes]
    ) -> None:
        sink.on_eof()

    def _count(self, report: dict[str, Any]) -> None:
        cpu, size = float(report.get("reader_cpu", 0.0)), int(report.get("bytes", 0))
        self.reader_cpu += cpu
        self.reader_bytes += size
        log.debug(
            "%s: channel %s read %d bytes in %.3f s of reader CPU (%s reader)",
            self.name,
            report.get("ch"),
            size,
            cpu,
            self.reader_impl,
        )

    def _on_close(self, msg: Message) -> None:
        self._lost("the kernel closed the bridge's comm")

    def _lost(self, reason: str) -> None:
        for future in self._replies.values():
            if not future.done():
                future.set_exception(AgentError(reason))
        channels, self._channels = self._channels, {}
        for sink in channels.values():
            sink.on_error(reason, FAILED)
