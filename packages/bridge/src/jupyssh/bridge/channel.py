"""One SSH session channel carried into the kernel: its request, and the two pumps.

- the **input thread** reads the SSH channel and posts stdin to the agent, at most
  :data:`IN_WINDOW` unacknowledged bytes at a time, so a fast sender is held back by the
  SSH window, not buffered without bound;
- the **writer thread** writes the agent's output to the SSH channel (stdout as data,
  stderr as extended data), acknowledges it — the agent's reader never has more than its
  window in flight — and ends the channel: EOF, ``exit-status``, close, in that order.

Messages from the agent arrive on the loop (``on_*``) and only go into a queue there.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from paramiko.channel import Channel
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from jupyssh.bridge import agent
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.session import FAILED, KernelSession

__all__ = [
    "IN_WINDOW",
    "BridgeChannel",
    "ChannelRequest",
    "InputCredit",
    "PtyRequest",
    "end_channel",
    "send_exit_signal",
]

log = logging.getLogger(__name__)

#: Unacknowledged stdin bytes per channel: a multiple of what the agent acknowledges at
#: once, so that its batching never stalls the sender.
IN_WINDOW = 4 * agent.STDIN_ACK_EVERY
#: Most bytes read from the SSH channel at once.
IN_CHUNK = 64 * 1024
#: Output bytes written to the client before the bridge returns credit to the agent (at
#: most the agent's window, so that a waiting reader is always acknowledged); output
#: smaller than this is acknowledged after :data:`POLL` seconds without output. Each
#: acknowledgement is a message the kernel handles (and answers with busy and idle):
#: few of them keep the kernel's CPU per MB low, and none follows a keystroke's echo.
ACK_BATCH = agent.OUT_WINDOW // 4
#: Seconds between checks of the channel's state in the waiting loops.
POLL = 0.25
#: Seconds to wait for the agent's exit report after the client closed the channel.
KILL_GRACE = 5.0


class InputCredit:
    """Input bytes sent to the agent and not yet acknowledged, at most :data:`IN_WINDOW`:
    :meth:`take` waits for room (until ``done`` is set), :meth:`release` returns it."""

    def __init__(self, done: threading.Event) -> None:
        self._done = done
        self._cond = threading.Condition()
        self._in_flight = 0

    def take(self, size: int) -> None:
        with self._cond:
            while self._in_flight >= IN_WINDOW and not self._done.is_set():
                self._cond.wait(POLL)
            self._in_flight += size

    def release(self, size: int) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - size)
            self._cond.notify_all()

    def wake(self) -> None:
        """Let a waiting :meth:`take` see ``done``."""
        with self._cond:
            self._cond.notify_all()


@dataclass
class PtyRequest:
    """What the client asked for in ``pty-req`` (and later ``window-change``)."""

    term: str
    cols: int
    rows: int


@dataclass
class ChannelRequest:
    """Everything the client asked for on a channel before its shell or exec request."""

    pty: PtyRequest | None = None
    env: dict[str, str] = field(default_factory=dict)
    command: str | None = None


class BridgeChannel:
    """A started channel. Made on the transport thread by the policy's ``after_request``
    callback; :meth:`start` returns at once."""

    def __init__(
        self, io: LoopThread, session: KernelSession, channel: Channel, request: ChannelRequest
    ) -> None:
        self.io = io
        self.session = session
        self.channel = channel
        self.request = request
        self.number = channel.get_id()
        #: (kind, value, data): ``out`` (fd, bytes), ``exit`` (status, signal name or
        #: b""), ``error`` (status, message).
        self._out: queue.Queue[tuple[str, int, bytes]] = queue.Queue()
        self._spawned = False
        self._done = threading.Event()
        self._credit = InputCredit(self._done)
        self._killed_at: float | None = None

    # --- start (transport thread) ------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(
            target=self._write_loop, name=f"jupyssh-bridge-out-{self.number}", daemon=True
        ).start()
        self.io.submit(self._spawn())

    async def _spawn(self) -> None:
        ready = self.session.ready
        if ready is None:
            self.on_error("the connection's kernel session was never started")
            return
        try:
            await ready
        except Exception as exc:  # noqa: BLE001 - reported to the client, logged by the session
            self.on_error(f"cannot start a kernel for this connection: {exc}")
            return
        self.session.attach(self.number, self)
        pty = self.request.pty
        self.session.post(
            {
                "op": "spawn",
                "ch": self.number,
                "command": self.request.command,
                "env": self.request.env,
                "pty": None
                if pty is None
                else {"term": pty.term, "cols": pty.cols, "rows": pty.rows},
            }
        )
        self._spawned = True
        threading.Thread(
            target=self._read_loop, name=f"jupyssh-bridge-in-{self.number}", daemon=True
        ).start()

    def resize(self, cols: int, rows: int) -> None:
        """A ``window-change`` (transport thread): pass it on, in order with stdin."""
        if self.request.pty is not None:
            self.request.pty.cols, self.request.pty.rows = cols, rows
        self.io.call(
            self.session.post, {"op": "resize", "ch": self.number, "cols": cols, "rows": rows}
        )

    # --- from the agent (loop) -------------------------------------------------------------

    def on_output(self, fd: int, data: bytes) -> None:
        self._out.put(("out", fd, data))

    def on_stdin_ack(self, size: int) -> None:
        self._credit.release(size)

    def on_exit(self, status: int, signal: str | None) -> None:
        self._out.put(("exit", status, (signal or "").encode("ascii", "replace")))

    def on_error(self, message: str, status: int = FAILED) -> None:
        self._out.put(("error", status, message.encode("utf-8", "replace")))

    def on_eof(self) -> None:
        """A process's end of output is its ``exit``: nothing to do here."""

    # --- input thread ----------------------------------------------------------------------

    def _read_loop(self) -> None:
        channel = self.channel
        while not self._done.is_set():
            try:
                data = channel.recv(IN_CHUNK)
            except OSError:
                return
            if not data:
                if self.request.pty is None and channel.eof_received:
                    self.io.call(self.session.post, {"op": "eof", "ch": self.number})
                return
            self._credit.take(len(data))
            self.io.call(self.session.post, {"op": "stdin", "ch": self.number}, [data])

    # --- writer thread ---------------------------------------------------------------------

    def _write_loop(self) -> None:
        unacked = {1: 0, 2: 0}
        broken = False
        try:
            while True:
                try:
                    kind, value, data = self._out.get(timeout=POLL)
                except queue.Empty:
                    self._ack(unacked)
                    if self._abandoned():
                        return
                    continue
                if kind == "out":
                    if not broken:
                        broken = not self._send(value, data)
                    unacked[value] += len(data)
                    if unacked[value] >= ACK_BATCH:
                        self._ack(unacked)
                elif kind == "exit":
                    self._finish(value, data.decode("ascii"))
                    return
                else:
                    end_channel(self.channel, value, message=data.decode("utf-8", "replace"))
                    return
        finally:
            self._done.set()
            self._credit.wake()

    def _send(self, fd: int, data: bytes) -> bool:
        try:
            if fd == 2:
                self.channel.sendall_stderr(data)
            else:
                self.channel.sendall(data)
        except OSError:
            self._kill()
            return False
        return True

    def _ack(self, unacked: dict[int, int]) -> None:
        for fd, size in unacked.items():
            if size:
                self.io.call(
                    self.session.post, {"op": "ack", "ch": self.number, "fd": fd, "n": size}
                )
                unacked[fd] = 0

    def _abandoned(self) -> bool:
        """The client closed the channel: stop the process, and give up waiting for its
        exit report after :data:`KILL_GRACE` seconds."""
        if not self.channel.closed:
            return False
        if self._killed_at is None:
            self._kill()
        return self._killed_at is not None and time.monotonic() - self._killed_at > KILL_GRACE

    def _kill(self) -> None:
        if self._killed_at is None:
            self._killed_at = time.monotonic()
            if self._spawned:
                self.io.call(self.session.post, {"op": "kill", "ch": self.number})

    def _finish(self, status: int, signal: str = "") -> None:
        end_channel(self.channel, status, signal=signal)
        log.debug("channel %d: exit status %d %s", self.number, status, signal)


def end_channel(channel: Channel, status: int, *, signal: str = "", message: str = "") -> None:
    """``message`` on stderr, exit status, EOF, close. The status goes before the EOF: a
    client that has sent its own EOF answers ours with CLOSE at once, paramiko answers
    that CLOSE on its own thread, and a status sent after our EOF could then follow the
    CLOSE (OpenSSH's ``ssh`` drops it, "unknown channel", and exits 255; seen with
    ControlMaster). A process ended by a signal gets ``exit-signal`` as from sshd, then
    ``exit-status`` 128+n too: OpenSSH's ``ssh`` reads only the status (without it, it
    exits 255), and scripts expect the shell's 128+n."""
    with contextlib.suppress(OSError, EOFError):
        if message:
            channel.sendall_stderr(f"jupyssh bridge: {message}\r\n".encode("utf-8", "replace"))
        if signal:
            send_exit_signal(channel, signal)
        channel.send_exit_status(status)
        channel.shutdown_write()
    close_channel(channel)


def close_channel(channel: Channel) -> None:
    """Close ``channel`` from any thread, even when the connection is already gone:
    paramiko then raises ``EOFError`` (or ``OSError``) from the CLOSE it cannot send,
    and there is nobody left to tell."""
    with contextlib.suppress(OSError, EOFError):
        channel.close()


def send_exit_signal(channel: Channel, signal: str) -> None:
    """Send RFC 4254's ``exit-signal`` (signal name without ``SIG``, no core dump, no
    message): paramiko has ``send_exit_status`` but nothing for this, so it is built the
    way ``send_exit_status`` builds its message."""
    message = Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("exit-signal")
    message.add_boolean(False)  # want reply
    message.add_string(signal)
    message.add_boolean(False)  # core dumped: the agent cannot know
    message.add_string("")  # error message
    message.add_string("")  # language tag
    # the way send_exit_status sends (types-paramiko does not declare the method)
    channel.get_transport()._send_user_message(message)  # type: ignore[attr-defined]
