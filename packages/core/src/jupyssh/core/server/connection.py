"""One client connection: who it is, since when, and when it last did something.

Activity tracking. paramiko has no "last used" clock, so the server builds each
``Transport`` with :class:`ActivityPacketizer` (paramiko's public ``packetizer_class``
hook, paramiko >= 3.4): it stamps a monotonic time whenever a *channel* message goes in
or out — channel open, data, extended data, EOF, close and channel requests other than
``keepalive@…``. Transport-level traffic (key re-exchange, ``SSH_MSG_IGNORE``, global
``keepalive@openssh.com`` requests from ``ServerAliveInterval``) does not count, so an idle
shell whose client sends keepalives still times out. Window adjustments do not count on
their own; they only ever accompany data, which does.

The same packetizer gives :meth:`Connection.after_request`: paramiko answers a channel
request (``exec``, ``shell``, ``subsystem``) *after* the policy hook returns, and starting a
worker inside the hook lets the worker's first message (say ``exit-status``) overtake that
answer. Callbacks queued with :meth:`~Connection.after_request` run on the transport thread
just before it reads the next packet, i.e. once the current request has been answered.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko
from paramiko.channel import Channel
from paramiko.common import (
    MSG_CHANNEL_CLOSE,
    MSG_CHANNEL_DATA,
    MSG_CHANNEL_EOF,
    MSG_CHANNEL_EXTENDED_DATA,
    MSG_CHANNEL_OPEN,
    MSG_CHANNEL_REQUEST,
)
from paramiko.message import Message
from paramiko.packet import Packetizer

if TYPE_CHECKING:
    import socket

__all__ = ["ActivityPacketizer", "Connection"]

logger = logging.getLogger(__name__)

_ACTIVE_TYPES = frozenset(
    {
        MSG_CHANNEL_OPEN,
        MSG_CHANNEL_DATA,
        MSG_CHANNEL_EXTENDED_DATA,
        MSG_CHANNEL_EOF,
        MSG_CHANNEL_CLOSE,
        MSG_CHANNEL_REQUEST,
    }
)
# byte 98, uint32 recipient channel, uint32 length, then the request name
_KEEPALIVE_PREFIX = b"keepalive@"


def _is_activity(ptype: int, payload: bytes) -> bool:
    """``payload`` is the packet without its type byte."""
    if ptype not in _ACTIVE_TYPES:
        return False
    return not (ptype == MSG_CHANNEL_REQUEST and payload[8:18] == _KEEPALIVE_PREFIX)


class ActivityPacketizer(Packetizer):
    """paramiko's ``Packetizer`` plus a channel-activity clock and post-request callbacks.

    ``read_message`` runs on the transport thread only; ``send_message`` on any thread.
    """

    def __init__(self, socket: socket.socket) -> None:
        super().__init__(socket)
        self.last_activity = time.monotonic()
        self._after: list[Callable[[], object]] = []
        self._after_lock = threading.Lock()

    def call_after_request(self, callback: Callable[[], object]) -> None:
        with self._after_lock:
            self._after.append(callback)

    def read_message(self) -> tuple[int, Message]:
        self._run_after()
        ptype, message = super().read_message()
        if _is_activity(ptype, message.asbytes()):
            self.last_activity = time.monotonic()
        return ptype, message

    def send_message(self, data: Message) -> None:
        raw = data.asbytes()
        super().send_message(data)
        if raw and _is_activity(raw[0], raw[1:]):
            self.last_activity = time.monotonic()

    def _run_after(self) -> None:
        with self._after_lock:
            callbacks, self._after = self._after, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a hook's bug must not kill the connection's transport
                logger.exception("after_request callback %r failed", callback)


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
    def last_activity(self) -> float:
        """``time.monotonic()`` of the last channel message, or of the accept."""
        packetizer = self.transport.packetizer
        if isinstance(packetizer, ActivityPacketizer):
            return max(packetizer.last_activity, self.started_monotonic)
        return self.started_monotonic

    @property
    def idle_seconds(self) -> float:
        return time.monotonic() - self.last_activity

    def note_auth(self, method: str, key_fingerprint: str | None) -> None:
        """Record a credential the policy accepted (transport thread).

        paramiko asks the policy before it checks the signature and finishes
        authentication on the first signed request the policy accepts, processing no
        further requests afterwards, so the last credential noted before
        ``authenticated`` turns true is the one that authenticated.
        """
        self._auth_method = method
        self._key_fingerprint = key_fingerprint

    def after_request(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the transport thread once the request being handled now has
        been answered (see the module docstring). It must not block: start a worker or set
        an event. Dropped if the connection ends first."""
        packetizer = self.transport.packetizer
        if isinstance(packetizer, ActivityPacketizer):
            packetizer.call_after_request(callback)
        else:  # pragma: no cover - only with a transport the server did not build
            callback()

    def close(self) -> None:
        """Close the transport (every channel with it); the supervisor does the rest."""
        self.transport.close()
