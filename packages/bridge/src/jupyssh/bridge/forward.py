"""Forwarded connections carried into the kernel: ``ssh -L``, ``-W``, ``-D`` and ``-R``.

A :class:`ForwardChannel` is one forwarded connection's SSH channel; the socket is the
agent's, on the Jupyter host. Two pumps per channel, as for commands:

- the **input thread** reads the SSH channel and posts the bytes to the agent, at most
  :data:`~jupyssh.bridge.channel.IN_WINDOW` unacknowledged, and passes the client's EOF on;
- the **writer thread** writes what the agent read to the SSH channel and acknowledges
  it (the agent reads at most its window ahead), sends the peer's EOF and closes the
  channel once the agent reports both directions ended.

A channel that stops reading holds only its own writer thread: the other forwards of the
connection keep their pace. :class:`RemoteForwards` keeps a connection's ``ssh -R``
listeners and opens a ``forwarded-tcpip`` channel for each connection they accept.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

import paramiko
from paramiko.channel import Channel

from jupyssh.bridge.channel import (
    ACK_BATCH,
    IN_WINDOW,
    KILL_GRACE,
    POLL,
    InputCredit,
    close_channel,
)
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.session import KernelSession

__all__ = [
    "FORWARD_IN_CHUNK",
    "OPEN_TIMEOUT",
    "REQUEST_TIMEOUT",
    "ForwardChannel",
    "RemoteForwards",
]

log = logging.getLogger(__name__)

#: Seconds the agent may take to answer a ``connect`` or ``listen`` (its own connect is
#: bounded by ``agent.CONNECT_TIMEOUT``).
REQUEST_TIMEOUT = 20.0
#: Seconds a channel open or a ``tcpip-forward`` may wait, the kernel's start included
#: (the first forward of a connection may be what starts its kernel).
OPEN_TIMEOUT = 120.0
#: Most bytes read from a forward's SSH channel for one ``stdin`` message to the agent
#: (a command's stdin takes :data:`~jupyssh.bridge.channel.IN_CHUNK`, 64 KiB). Each
#: message is one the kernel handles and answers with ``busy`` and ``idle``, relayed by
#: the Jupyter server. Measured, 256 MB sent through ``ssh -L`` (CPU of all processes
#: per MB): 64 KiB messages 44 MB/s and 31 ms, 256 KiB 108 MB/s and 13 ms, 512 KiB
#: 104 MB/s and 9.3 ms in a slower run; 1 MiB costs as little CPU, but only one message
#: then fits the credit window and throughput fell on a busy host. Half the window keeps
#: two in flight. ``recv`` returns what has arrived, so a small write leaves at once.
FORWARD_IN_CHUNK = IN_WINDOW // 2


class ForwardChannel:
    """One forwarded connection's channel (made before its SSH channel exists: the
    agent connects first, then the channel opens and :meth:`start` runs)."""

    def __init__(self, io: LoopThread, session: KernelSession, number: int) -> None:
        self.io = io
        self.session = session
        self.number = number
        self.channel: Channel | None = None
        #: (kind, bytes): ``out``, ``eof``, ``exit``.
        self._out: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._done = threading.Event()
        self._credit = InputCredit(self._done)
        self._killed_at: float | None = None

    @property
    def done(self) -> bool:
        """Whether the channel has ended."""
        return self._done.is_set()

    # --- open (loop) -------------------------------------------------------------------------

    async def connect(self, target: dict[str, Any]) -> dict[str, Any]:
        """Ask the agent to connect to ``target`` (``host`` and ``port``, or ``path``);
        the agent's reply (``ok``, ``message``)."""
        self.session.attach(self.number, self)
        try:
            reply = await self.session.request(
                {"op": "connect", "ch": self.number, **target}, REQUEST_TIMEOUT
            )
        except BaseException:
            self.session.detach(self.number)
            raise
        if not reply.get("ok"):
            self.session.detach(self.number)
        return reply

    def start(self, channel: Channel) -> None:
        """The SSH channel is open: start both pumps (any thread; returns at once)."""
        self.channel = channel
        for target, role in ((self._write_loop, "out"), (self._read_loop, "in")):
            threading.Thread(
                target=target,
                args=(channel,),
                name=f"jupyssh-fwd-{role}-{self.number}",
                daemon=True,
            ).start()

    # --- from the agent (loop) ---------------------------------------------------------------

    def on_output(self, fd: int, data: bytes) -> None:
        self._out.put(("out", data))

    def on_stdin_ack(self, size: int) -> None:
        self._credit.release(size)

    def on_eof(self) -> None:
        self._out.put(("eof", b""))

    def on_exit(self, status: int, signal: str | None) -> None:
        self._out.put(("exit", b""))

    def on_error(self, message: str, status: int) -> None:
        log.info("forward on channel %d: %s", self.number, message)
        self._out.put(("exit", b""))

    # --- input thread ------------------------------------------------------------------------

    def _read_loop(self, channel: Channel) -> None:
        while not self._done.is_set():
            try:
                data = channel.recv(FORWARD_IN_CHUNK)
            except OSError:
                return
            if not data:
                if channel.eof_received and not channel.closed:
                    self._post({"op": "eof", "ch": self.number})
                return
            self._credit.take(len(data))
            self._post({"op": "stdin", "ch": self.number}, data)

    # --- writer thread -----------------------------------------------------------------------

    def _write_loop(self, channel: Channel) -> None:
        unacked = 0
        try:
            while True:
                try:
                    kind, data = self._out.get(timeout=POLL)
                except queue.Empty:
                    unacked = self._ack(unacked)
                    if self._abandoned(channel):
                        return
                    continue
                if kind == "out":
                    try:
                        channel.sendall(data)
                    except (OSError, EOFError):  # EOFError: the transport is gone
                        self._kill()
                    unacked += len(data)
                    if unacked >= ACK_BATCH:
                        unacked = self._ack(unacked)
                elif kind == "eof":
                    with contextlib.suppress(OSError, EOFError):
                        channel.shutdown_write()
                else:
                    close_channel(channel)
                    return
        finally:
            self._done.set()
            self._credit.wake()

    def _ack(self, unacked: int) -> int:
        if unacked:
            self._post({"op": "ack", "ch": self.number, "fd": 1, "n": unacked})
        return 0

    def _abandoned(self, channel: Channel) -> bool:
        """The client closed the channel: close the socket; stop waiting for the agent's
        report after :data:`KILL_GRACE` seconds."""
        if not channel.closed:
            return False
        self._kill()
        return self._killed_at is not None and time.monotonic() - self._killed_at > KILL_GRACE

    def _kill(self) -> None:
        if self._killed_at is None:
            self._killed_at = time.monotonic()
            self._post({"op": "kill", "ch": self.number})

    def _post(self, data: dict[str, Any], payload: bytes | None = None) -> None:
        buffers = [] if payload is None else [payload]
        self.io.call(self.session.post, data, buffers)


class RemoteForwards:
    """A connection's ``ssh -R`` listeners, which the agent keeps on the Jupyter host.

    Listeners are known by the address and port the client asked for (what
    ``cancel-tcpip-forward`` and the ``forwarded-tcpip`` channels name). They go with the
    connection's kernel session, when the connection ends.
    """

    def __init__(
        self, io: LoopThread, session: KernelSession, transport: paramiko.Transport
    ) -> None:
        self.io = io
        self.session = session
        self.transport = transport
        #: listener number -> (the client's address, the bound port)
        self._listeners: dict[int, tuple[str, int]] = {}
        self._count = 0
        self._lock = threading.Lock()
        #: Channels opened for accepted connections (paramiko holds channels weakly).
        self.forwards: list[ForwardChannel] = []
        session.on_accepted = self._on_accepted

    async def listen(self, address: str, bind_host: str, port: int) -> int | None:
        """Listen on ``bind_host:port`` for a client that asked for ``address:port``; the
        bound port, or ``None`` if the agent could not listen."""
        with self._lock:
            self._count += 1
            number = self._count
        reply = await self.session.request(
            {"op": "listen", "listener": number, "host": bind_host, "port": port},
            REQUEST_TIMEOUT,
        )
        if not reply.get("ok"):
            log.info("tcpip-forward %s:%d refused: %s", address, port, reply.get("message"))
            return None
        bound = int(reply["port"])
        with self._lock:
            self._listeners[number] = (address, bound)
        return bound

    async def cancel(self, address: str, port: int) -> bool:
        """Close the listener the client asked for as ``address:port``, and return once
        the agent has closed it: the client's ``cancel-tcpip-forward`` is answered after
        this, and by then the port must refuse connections (CI once connected in the
        gap and got a reset)."""
        with self._lock:
            numbers = [n for n, key in self._listeners.items() if key == (address, port)]
            for number in numbers:
                del self._listeners[number]
        for number in numbers:
            await self.session.request({"op": "unlisten", "listener": number}, REQUEST_TIMEOUT)
        return bool(numbers)

    def _on_accepted(self, data: dict[str, Any]) -> None:
        """The agent accepted a connection (loop): open its channel on another thread
        (paramiko's open waits for the client's answer)."""
        threading.Thread(
            target=self._open_channel, args=(data,), name="jupyssh-fwd-accept", daemon=True
        ).start()

    def _open_channel(self, data: dict[str, Any]) -> None:
        conn = int(data.get("conn", -1))
        with self._lock:
            listen = self._listeners.get(int(data.get("listener", -1)))
        origin = data.get("origin") or ["", 0]
        channel: Channel | None = None
        if listen is not None:
            try:
                channel = self.transport.open_forwarded_tcpip_channel(
                    (str(origin[0]), int(origin[1])), listen
                )
            except (paramiko.SSHException, OSError, EOFError) as exc:
                log.info("forwarded-tcpip to %s:%d not opened: %s", *listen, exc)
        if channel is None:
            self.io.call(self.session.post, {"op": "drop", "conn": conn})
            return
        forward = ForwardChannel(self.io, self.session, channel.get_id())
        with self._lock:
            self.forwards = [f for f in self.forwards if not f.done] + [forward]
        self.io.call(self.session.attach, forward.number, forward)
        self.io.call(self.session.post, {"op": "adopt", "conn": conn, "ch": forward.number})
        forward.start(channel)
