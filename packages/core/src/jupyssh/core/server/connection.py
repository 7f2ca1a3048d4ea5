"""One client connection: who it is, since when, and which channels it has open.

Channel tracking. paramiko does not say how many channels a connection has open, nor
since when it has none, so the server builds each ``Transport`` with
:class:`ServerPacketizer` (paramiko's public ``packetizer_class`` hook, paramiko >= 3.4).
It watches the server's own channel messages: an ``OPEN_CONFIRMATION`` opens a channel, the
server's ``CLOSE`` ends it (paramiko answers a client's close with its own). From that it

- refuses a channel opened beyond ``max_channels`` with ``OPEN_FAILURE`` "resource
  shortage: too many channels", before the policy is asked, whatever the policy allows;
- knows since when the connection has had no open channel, for the idle timeout (as
  OpenSSH's ``UnusedConnectionTimeout``: a quiet shell is not idle, a connection holding
  nothing is, keepalives or not);
- sees the authentication succeed (the server's ``USERAUTH_SUCCESS``), the moment the
  server counts the connection against ``max_connections``.

The same packetizer gives :meth:`Connection.after_request`: paramiko answers a channel
request (``exec``, ``shell``, ``subsystem``) *after* the policy hook returns, and starting a
worker inside the hook lets the worker's first message (say ``exit-status``) overtake that
answer. Callbacks queued with :meth:`~Connection.after_request` run on the transport thread
just before it reads the next packet, i.e. once the current request has been answered.
"""

from __future__ import annotations

import itertools
import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko
from paramiko.channel import Channel
from paramiko.common import (
    MSG_CHANNEL_CLOSE,
    MSG_CHANNEL_OPEN,
    MSG_CHANNEL_OPEN_SUCCESS,
    MSG_USERAUTH_SUCCESS,
    OPEN_FAILED_RESOURCE_SHORTAGE,
    cMSG_CHANNEL_OPEN_FAILURE,
    cMSG_DISCONNECT,
)
from paramiko.message import Message
from paramiko.packet import Packetizer

if TYPE_CHECKING:
    import socket

__all__ = ["Connection", "ServerPacketizer"]

logger = logging.getLogger(__name__)

#: RFC 4253 11.1 SSH_DISCONNECT_TOO_MANY_CONNECTIONS (paramiko names only a few codes).
DISCONNECT_TOO_MANY_CONNECTIONS = 12


def _recipient(payload: bytes) -> int | None:
    """The recipient channel number every channel message starts with."""
    return struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else None


class ServerPacketizer(Packetizer):
    """paramiko's ``Packetizer`` plus channel tracking, a channel cap, an authentication
    callback and post-request callbacks (see the module docstring).

    ``read_message`` runs on the transport thread only; ``send_message`` on any thread.
    The server sets :attr:`max_channels` and :attr:`on_authenticated` before the
    transport starts.
    """

    #: Bytes and packets each way before the server starts a key exchange: what OpenSSH's
    #: sshd allows the 16-byte-block ciphers negotiated here (2^32 blocks, RFC 4344; at
    #: most 2^31 packets), not paramiko's 512 MiB. A rekey the server starts can deadlock
    #: paramiko: a channel CLOSE the client sent before it saw our KEXINIT is answered on
    #: the transport thread, which then waits for the key exchange that only it can
    #: finish, and the connection dies 30 s later ("Key-exchange timed out waiting for key
    #: negotiation"; seen with forwards closing during 256 MB transfers). A client's own
    #: rekey (its ``RekeyLimit``) sends nothing else until it is done, so it is safe.
    REKEY_BYTES = 1 << 36
    REKEY_PACKETS = 1 << 31

    def __init__(self, socket: socket.socket) -> None:
        super().__init__(socket)
        #: Channels the client may have open at once; more are refused.
        self.max_channels: int | None = None
        #: Called on the transport thread once the authentication success is sent, before
        #: any later packet is read.
        self.on_authenticated: Callable[[], object] | None = None
        #: ``time.monotonic()`` of the authentication success, ``None`` before.
        self.authenticated_at: float | None = None
        #: ``time.monotonic()`` since which no channel is open, ``None`` while one is.
        self.unused_since: float | None = time.monotonic()
        self._open: set[int] = set()  # the client's numbers of the channels open now
        self._channel_lock = threading.Lock()
        self._after: list[Callable[[], object]] = []
        self._after_lock = threading.Lock()
        #: The last ``CHANNEL_OPEN`` read (see :attr:`Connection.channel_open`).
        self.channel_open: Message | None = None

    @property
    def open_channels(self) -> int:
        with self._channel_lock:
            return len(self._open)

    def call_after_request(self, callback: Callable[[], object]) -> None:
        with self._after_lock:
            self._after.append(callback)

    def read_message(self) -> tuple[int, Message]:
        while True:
            self._run_after()
            ptype, message = super().read_message()
            if ptype != MSG_CHANNEL_OPEN:
                return ptype, message
            if not self._channels_full():
                self.channel_open = message
                return ptype, message
            self._refuse_channel(message)

    def send_message(self, data: Message) -> None:
        raw = data.asbytes()
        super().send_message(data)
        if raw:
            self._sent(raw[0], raw[1:])

    def _sent(self, ptype: int, payload: bytes) -> None:
        if ptype == MSG_USERAUTH_SUCCESS:
            self.authenticated_at = time.monotonic()
            if self.on_authenticated is not None:
                self.on_authenticated()
            return
        if ptype not in (MSG_CHANNEL_OPEN_SUCCESS, MSG_CHANNEL_CLOSE):
            return
        number = _recipient(payload)
        if number is None:  # pragma: no cover - paramiko always writes it
            return
        with self._channel_lock:
            if ptype == MSG_CHANNEL_OPEN_SUCCESS:
                self._open.add(number)
                self.unused_since = None
            elif number in self._open:
                self._open.discard(number)
                if not self._open:
                    self.unused_since = time.monotonic()

    def _channels_full(self) -> bool:
        return self.max_channels is not None and self.open_channels >= self.max_channels

    def _refuse_channel(self, message: Message) -> None:
        """Answer a channel open with "resource shortage" (RFC 4254 5.1)."""
        kind = message.get_text()
        number = message.get_int()
        logger.info("refusing a %r channel: %s open (max_channels)", kind, self.max_channels)
        reply = Message()
        reply.add_byte(cMSG_CHANNEL_OPEN_FAILURE)
        reply.add_int(number)
        reply.add_int(OPEN_FAILED_RESOURCE_SHORTAGE)
        reply.add_string("too many channels")
        reply.add_string("en")
        self.send_message(reply)

    def _run_after(self) -> None:
        with self._after_lock:
            callbacks, self._after = self._after, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a hook's bug must not kill the connection's transport
                logger.exception("after_request callback %r failed", callback)
        if callbacks and self.closed:
            raise EOFError  # a callback ended the connection: paramiko's quiet way out


_ids = itertools.count(1)


class Connection:
    """One accepted TCP connection and its paramiko ``Transport``.

    Created by :class:`~jupyssh.core.server.SSHServer` on the accept thread before the SSH
    handshake starts, handed to ``make_policy``, ``on_transport``, ``on_channel`` and
    ``on_connection_closed``. Its attributes are safe to read from any thread. Identity
    (``is``, ``hash``) is the connection's identity: use it as a dictionary key for
    per-connection state (the bridge keeps its kernel that way).
    """

    def __init__(self, transport: paramiko.Transport, peer: tuple[str, int]) -> None:
        self.id: int = next(_ids)
        #: (address, port) of the client.
        self.peer: tuple[str, int] = (str(peer[0]), int(peer[1]))
        #: Wall-clock time the connection was accepted (``time.time()``).
        self.started_at: float = time.time()
        self.started_monotonic: float = time.monotonic()
        self.transport = transport
        #: The ``ServerInterface`` answering for this connection (set right after
        #: ``make_policy``).
        self.policy: paramiko.ServerInterface | None = None
        self._auth_method: str | None = None
        self._key_fingerprint: str | None = None
        # paramiko's transport holds its channels weakly (a WeakValueDictionary), and a
        # Channel closes itself when collected: until a worker holds an accepted channel
        # (after its shell or exec request), the connection must, or it is gone.
        self._held: set[Channel] = set()
        self._held_lock = threading.Lock()

    def __repr__(self) -> str:
        user = self.username or "-"
        return f"<Connection #{self.id} {self.peer[0]}:{self.peer[1]} user={user}>"

    @property
    def authenticated(self) -> bool:
        """Whether the client authenticated; stays true after the connection ended, so
        ``on_connection_closed`` still sees who it was."""
        handler = self.transport.auth_handler
        return handler is not None and handler.is_authenticated()

    @property
    def username(self) -> str | None:
        """The user name the client authenticated as (``None`` until then)."""
        handler = self.transport.auth_handler
        if handler is None or not handler.is_authenticated():
            return None
        return handler.get_username()

    @property
    def auth_method(self) -> str | None:
        """``"publickey"`` or ``"none"`` once authenticated, else ``None``."""
        return self._auth_method if self.authenticated else None

    @property
    def key_fingerprint(self) -> str | None:
        """``SHA256:…`` of the key the client authenticated with (``None`` for none-auth)."""
        return self._key_fingerprint if self.authenticated else None

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The accepted channels that are not closed yet (snapshot)."""
        with self._held_lock:
            return tuple(channel for channel in self._held if not channel.closed)

    def hold(self, channel: Channel) -> None:
        """Keep ``channel`` alive until it closes (the server calls this on accept)."""
        with self._held_lock:
            self._held.add(channel)

    def release_closed(self) -> None:
        """Let go of the channels that closed (the supervisor calls this every tick)."""
        with self._held_lock:
            self._held = {channel for channel in self._held if not channel.closed}

    @property
    def idle_seconds(self) -> float:
        """Seconds since the connection last had an open channel, counted from the
        authentication at the earliest; ``0.0`` while a channel is open or before the
        client authenticated."""
        packetizer = self.transport.packetizer
        if not isinstance(packetizer, ServerPacketizer):  # pragma: no cover
            return 0.0
        since, authenticated_at = packetizer.unused_since, packetizer.authenticated_at
        if since is None or authenticated_at is None:
            return 0.0
        return time.monotonic() - max(since, authenticated_at)

    def note_auth(self, method: str, key_fingerprint: str | None) -> None:
        """Record a credential the policy accepted (transport thread).

        paramiko asks the policy before it checks the signature and finishes
        authentication on the first signed request the policy accepts, processing no
        further requests afterwards, so the last credential noted before
        ``authenticated`` turns true is the one that authenticated.
        """
        self._auth_method = method
        self._key_fingerprint = key_fingerprint

    @property
    def channel_open(self) -> Message | None:
        """The ``CHANNEL_OPEN`` message being answered now, read up to where paramiko
        stopped (kind, sender channel, window, packet size): in ``check_channel_request``
        (transport thread) a policy reads the fields of kinds paramiko does not parse,
        such as ``direct-streamlocal@openssh.com``'s socket path. ``None`` before any."""
        packetizer = self.transport.packetizer
        return packetizer.channel_open if isinstance(packetizer, ServerPacketizer) else None

    def after_request(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the transport thread once the request being handled now has
        been answered (see the module docstring). It must not block: start a worker or set
        an event. Dropped if the connection ends first."""
        packetizer = self.transport.packetizer
        if isinstance(packetizer, ServerPacketizer):
            packetizer.call_after_request(callback)
        else:  # pragma: no cover - only with a transport the server did not build
            callback()

    def close(self) -> None:
        """Close the transport (every channel with it); the supervisor does the rest."""
        self.transport.close()

    def disconnect_too_many(self) -> None:
        """Tell the client "too many connections" (SSH ``DISCONNECT``) and close.

        Transport thread only (an :meth:`after_request` callback), as paramiko sends its
        own disconnects."""
        message = Message()
        message.add_byte(cMSG_DISCONNECT)
        message.add_int(DISCONNECT_TOO_MANY_CONNECTIONS)
        message.add_string("too many connections")
        message.add_string("en")
        self.transport.packetizer.send_message(message)
        self.transport.close()
