"""The deny-by-default policy: a paramiko ``ServerInterface`` that allows nothing yet.

:class:`ServerPolicy` authenticates (public keys from an authorized_keys file; the
``none`` method only when the server was explicitly started without authentication on a
loopback address; never passwords or keyboard-interactive) and refuses every channel and
request. A server enables exactly what it serves by overriding hooks::

    class ExecPolicy(ServerPolicy):
        def check_channel_request(self, kind, chanid):
            if kind == "session":
                return OPEN_SUCCEEDED
            return super().check_channel_request(kind, chanid)

        def check_channel_exec_request(self, channel, command):
            self.connection.after_request(lambda: start_worker(channel, command))
            return True

Subsystems are enabled by name with :attr:`ServerPolicy.allowed_subsystems`; the handler
itself is registered on the transport in :meth:`SSHServer.on_transport
<jupyssh.core.server.SSHServer.on_transport>`.

Threading contract: paramiko calls every method here on the connection's transport thread,
the one thread that reads every packet of that connection. A method that blocks stalls the
whole connection (all its channels, keepalives and re-keys): answer from memory, and hand
real work to another thread (:meth:`Connection.after_request
<jupyssh.core.server.Connection.after_request>` starts it once the request is answered).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import paramiko
from paramiko.channel import Channel
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
)
from paramiko.message import Message
from paramiko.server import InteractiveQuery

from jupyssh.core.server.authorized_keys import AuthorizedKeys
from jupyssh.core.server.connection import Connection
from jupyssh.core.server.hostkey import fingerprint

__all__ = ["ServerPolicy"]

logger = logging.getLogger(__name__)


class ServerPolicy(paramiko.ServerInterface):
    """Authenticate by public key; deny every channel, request and forward.

    One instance per connection, made by ``SSHServer.make_policy``. Any user name is
    accepted: the server runs as one OS user and the key alone decides, as with a single
    account's ``authorized_keys``.

    :param connection: the connection this policy answers for.
    :param authorized_keys: the keys that may log in; ``None`` refuses every key.
    :param allow_none: accept the ``none`` method (no credentials at all). ``SSHServer``
        passes ``True`` only for ``insecure_no_auth`` on a loopback address.
    """

    #: Subsystem names (``"sftp"``) this policy lets a session channel start. A name here
    #: also needs a handler: ``transport.set_subsystem_handler(name, ...)``.
    allowed_subsystems: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        connection: Connection,
        authorized_keys: AuthorizedKeys | None,
        *,
        allow_none: bool = False,
    ) -> None:
        self.connection = connection
        self.authorized_keys = authorized_keys
        self.allow_none = allow_none

    # --- authentication ------------------------------------------------------------------

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        if self.allow_none:
            self.connection.note_auth("none", None)
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> int | InteractiveQuery:
        return AUTH_FAILED

    def check_auth_interactive_response(self, responses: list[str]) -> int | InteractiveQuery:
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        """Accept ``key`` if its blob is in the authorized_keys file (re-read if changed).

        Certificates are refused: they would need ``cert-authority`` handling. paramiko
        calls this before verifying the signature (and again with it); success is final
        only once the signature checks out.
        """
        if self.authorized_keys is None or key.public_blob is not None:
            return AUTH_FAILED
        entry = self.authorized_keys.match(key.asbytes())
        if entry is None:
            logger.debug(
                "connection %d: key %s not authorized", self.connection.id, fingerprint(key)
            )
            return AUTH_FAILED
        self.connection.note_auth("publickey", fingerprint(key))
        return AUTH_SUCCESSFUL

    # --- channels and requests: all denied until a subclass says otherwise ----------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(  # noqa: PLR0917 - paramiko's signature
        self,
        channel: Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        return False

    def check_channel_shell_request(self, channel: Channel) -> bool:
        return False

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        return False

    def check_channel_subsystem_request(self, channel: Channel, name: str) -> bool:
        """Start the registered handler for ``name`` if it is in :attr:`allowed_subsystems`.

        (paramiko's default starts any registered handler; this one asks the policy first.)
        """
        if name not in self.allowed_subsystems:
            return False
        return super().check_channel_subsystem_request(channel, name)

    def check_channel_window_change_request(
        self, channel: Channel, width: int, height: int, pixelwidth: int, pixelheight: int
    ) -> bool:
        return False

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        return False

    def check_channel_x11_request(
        self,
        channel: Channel,
        single_connection: bool,
        auth_protocol: str,
        auth_cookie: bytes,
        screen_number: int,
    ) -> bool:
        return False

    def check_channel_forward_agent_request(self, channel: Channel) -> bool:
        return False

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_port_forward_request(self, address: str, port: int) -> int:
        return False

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        return None

    def check_global_request(self, kind: str, msg: Message) -> bool | tuple[bool | int | str, ...]:
        return False

    def get_banner(self) -> tuple[str | None, str | None]:
        return (None, None)
