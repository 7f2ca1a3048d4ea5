"""The terminals backend: an interactive shell (``pty-req`` + ``shell``) served by one of
the Jupyter server's terminals instead of a process in the connection's kernel.

Per channel: ``POST /api/terminals`` makes a terminal, its WebSocket
(``/terminals/websocket/<name>``) carries terminado's JSON protocol, and
``DELETE /api/terminals/<name>`` ends it when the channel closes or the connection goes
(:meth:`TerminalChannel.stop`, also called by the server's ``on_connection_closed``).

- **input thread**: reads the SSH channel, decodes UTF-8 incrementally (terminado's
  ``stdin`` is text) and sends ``["stdin", text]``, waiting for each send, so a fast
  sender is held back by the SSH window;
- **reader task** (bridge loop): receives ``["stdout", text]``, encodes it back to UTF-8
  and writes it to the channel on the channel's own writer thread, one message at a time,
  so a slow client holds back the WebSocket (not the loop); ``["disconnect", …]`` or a
  closed socket end the channel.

The terminal reports no exit status: the channel ends with EOF and close and no
``exit-status`` (OpenSSH's ``ssh`` then exits 255), rather than an invented status.
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import contextlib
import json
import logging
import threading
from typing import Any

from paramiko.channel import Channel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from jupyssh.bridge.channel import IN_CHUNK, ChannelRequest, close_channel
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.session import FAILED
from jupyssh.core.errors import JupysshError, JupyterNotFoundError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.jupyter.websocket import QuickAcks

__all__ = [
    "TERMINALS_DISABLED",
    "StdinDecoder",
    "TerminalChannel",
    "decode_server_message",
    "set_size_message",
    "stdin_message",
]

log = logging.getLogger(__name__)

#: Seconds a send to the terminal, or its creation and WebSocket, may take.
SEND_TIMEOUT = 60.0
#: What a client sees when the server runs without terminals.
TERMINALS_DISABLED = (
    "this Jupyter server does not offer terminals (terminals_enabled=False, or "
    "jupyter_server_terminals missing); use the kernel backend (--backend kernel)"
)


# --- terminado's protocol (pure) ----------------------------------------------------------------


def stdin_message(text: str) -> str:
    """``["stdin", text]``: keystrokes for the terminal's PTY."""
    return json.dumps(["stdin", text])


def set_size_message(cols: int, rows: int) -> str:
    """``["set_size", rows, cols]`` (terminado's order: rows first), sizes at least 1."""
    return json.dumps(["set_size", max(1, rows), max(1, cols)])


def decode_server_message(raw: str | bytes) -> tuple[str, bytes]:
    """One message from the server → ``(kind, data)``.

    ``("stdout", utf-8 bytes)`` for output, ``("disconnect", b"")`` when the shell ended,
    ``("setup", b"")`` on open, ``("ignore", b"")`` for anything else (unknown kinds,
    malformed JSON: a newer server's extra messages must not end the session).
    """
    try:
        message: Any = json.loads(raw)
    except ValueError:
        return "ignore", b""
    if not isinstance(message, list) or not message or not isinstance(message[0], str):
        return "ignore", b""
    kind = message[0]
    if kind == "stdout" and len(message) > 1 and isinstance(message[1], str):
        # lone surrogates cannot come from terminado (it decodes with errors="replace")
        return "stdout", message[1].encode("utf-8", "replace")
    if kind in {"disconnect", "setup"}:
        return kind, b""
    return "ignore", b""


class StdinDecoder:
    """Client bytes → text for ``["stdin", text]``: UTF-8, incremental (a character split
    across two reads is kept whole); bytes that are not UTF-8 become U+FFFD, since the
    server encodes the text back to UTF-8 and could not write a lone surrogate."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes, *, final: bool = False) -> str:
        return self._decoder.decode(data, final)


# --- the channel ----------------------------------------------------------------------------------


class TerminalChannel:
    """A shell channel served by a Jupyter terminal. Made on the transport thread by the
    policy's ``after_request`` callback; :meth:`start` returns at once; :meth:`resize`
    (transport thread) and :meth:`stop` (loop) may come at any time."""

    def __init__(
        self, io: LoopThread, client: JupyterClient, channel: Channel, request: ChannelRequest
    ) -> None:
        self.io = io
        self.client = client
        self.channel = channel
        self.request = request
        self.number = channel.get_id()
        #: The terminal's name once created (``None`` before, or after it was deleted).
        self.name: str | None = None
        self._ws: ClientConnection | None = None
        self._writer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"jupyssh-bridge-term-out-{self.number}"
        )
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` ran (the channel is over and its terminal deleted)."""
        return self._stopped and self.name is None

    # --- start / resize (transport thread) --------------------------------------------------

    def start(self) -> None:
        self.io.call(self._start_task)

    def _start_task(self) -> None:
        if not self._stopped:
            self._task = asyncio.ensure_future(self._run())

    def resize(self, cols: int, rows: int) -> None:
        """A ``window-change``: remembered, and sent as ``set_size`` once connected."""
        if self.request.pty is not None:
            self.request.pty.cols, self.request.pty.rows = cols, rows
        self.io.submit(self._send_if_open(set_size_message(cols, rows)))

    async def _send_if_open(self, message: str) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(message)

    # --- the session (loop) -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            try:
                model = await self.client.create_terminal()
            except JupyterNotFoundError:
                await self._fail(TERMINALS_DISABLED)
                return
            self.name = str(model["name"])
            if self._stopped:  # the client left while the terminal was being made
                return
            log.debug("channel %d: terminal %s", self.number, self.name)
            ws = self._ws = await self.client.connect_terminal(self.name)
            pty = self.request.pty
            if pty is not None and pty.cols and pty.rows:
                await ws.send(set_size_message(pty.cols, pty.rows))
            threading.Thread(
                target=self._read_loop, name=f"jupyssh-bridge-term-in-{self.number}", daemon=True
            ).start()
            await self._pump(ws)
            await self._finish(None)
        except JupysshError as exc:
            await self._fail(f"cannot serve this shell with a Jupyter terminal: {exc}")
        except (ConnectionClosed, OSError) as exc:
            await self._fail(f"the Jupyter terminal's connection was lost: {exc}")
        except asyncio.CancelledError:
            # The loop is stopping (LoopThread.stop gives its tasks 5 s): a closing
            # handshake the server may be slow to answer must not leave the socket open
            # in a closed loop.
            self._abort_socket()
            raise
        finally:
            await self._delete()

    async def _pump(self, ws: ClientConnection) -> None:
        """Terminal output → channel, until the shell ends or the socket closes."""
        loop = asyncio.get_running_loop()
        # the server writes the terminal's WebSocket with Nagle on, as the kernel's
        acks = QuickAcks(ws)
        try:
            async for raw in ws:
                acks.received(len(raw))
                kind, data = decode_server_message(raw)
                if kind == "disconnect":
                    return
                if kind == "stdout" and data:
                    sent = await loop.run_in_executor(self._writer, self._send, data)
                    if not sent:
                        return
        except ConnectionClosed:
            return
        finally:
            acks.close()

    def _send(self, data: bytes) -> bool:
        """Writer thread: blocks while the client's SSH window is full."""
        try:
            self.channel.sendall(data)
        except OSError:
            return False
        return True

    async def _fail(self, message: str) -> None:
        log.warning("channel %d: %s", self.number, message)
        text = f"jupyssh bridge: {message}\r\n".encode()
        await self._finish(FAILED, stderr=text)

    async def _finish(self, status: int | None, *, stderr: bytes = b"") -> None:
        """EOF, the exit status if one is known, close — on the writer thread, after the
        output still queued there."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError):  # the writer was shut down by stop()
            await loop.run_in_executor(self._writer, self._close_channel, status, stderr)

    def _close_channel(self, status: int | None, stderr: bytes) -> None:
        channel = self.channel
        with contextlib.suppress(OSError, EOFError):
            if stderr:
                channel.sendall_stderr(stderr)
            if status is not None:  # before the EOF: see channel.end_channel
                channel.send_exit_status(status)
            channel.shutdown_write()
        close_channel(channel)

    async def stop(self) -> None:
        """End the channel and delete its terminal (loop; idempotent). Called when the
        client closed the channel and by the server when the connection is gone."""
        self._stopped = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), SEND_TIMEOUT)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), SEND_TIMEOUT)
        await self._delete()
        self._writer.shutdown(wait=False)

    def _abort_socket(self) -> None:
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    async def _delete(self) -> None:
        name, self.name = self.name, None
        if name is None:
            return
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), SEND_TIMEOUT)
        try:
            await self.client.delete_terminal(name)
        except JupyterNotFoundError:
            pass  # the shell exited: the server already removed its terminal
        except JupysshError as exc:
            log.warning("channel %d: could not delete terminal %s: %s", self.number, name, exc)
        else:
            log.debug("channel %d: deleted terminal %s", self.number, name)

    # --- input thread ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        decoder = StdinDecoder()
        channel = self.channel
        while True:
            try:
                data = channel.recv(IN_CHUNK)
            except OSError:
                data = b""
            if not data:
                break
            text = decoder.decode(data)
            if text and not self._post(stdin_message(text)):
                break
        # EOF on a PTY is not passed on (as sshd: the shell sees ^D only if typed); a
        # closed channel ends the terminal.
        while not channel.closed and self._alive():
            channel.status_event.wait(0.5)
        if not self.io.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                self.io.submit(self.stop())

    def _alive(self) -> bool:
        transport = self.channel.get_transport()
        return not self._stopped and transport is not None and transport.is_active()

    def _post(self, message: str) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            self.io.submit(ws.send(message)).result(SEND_TIMEOUT)
        except (ConnectionClosed, concurrent.futures.TimeoutError, RuntimeError):
            return False
        return True
