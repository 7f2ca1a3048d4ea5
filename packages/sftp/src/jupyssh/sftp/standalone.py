"""``SFTPOnlyServer``: an SSH server that offers the SFTP subsystem and nothing else.

Built on :class:`jupyssh.core.server.SSHServer` (persistent host key, authorized_keys,
127.0.0.1 by default, connection limits). The policy opens ``session`` channels and lets
them start ``sftp`` only: shells, commands (hence legacy ``scp -O``), port forwarding and
agent forwarding stay refused. ``jupyssh sftp serve`` runs it.
"""

from __future__ import annotations

from typing import ClassVar

import paramiko
from paramiko.common import OPEN_SUCCEEDED

from jupyssh.core.server import Connection, ServerConfig, ServerPolicy, SSHServer
from jupyssh.sftp.service import SFTPService
from jupyssh.sftp.subsystem import install

__all__ = ["SFTPOnlyServer", "SFTPPolicy"]


class SFTPPolicy(ServerPolicy):
    """Authenticate as the base does; allow session channels and the ``sftp`` subsystem."""

    allowed_subsystems: ClassVar[frozenset[str]] = frozenset({"sftp"})

    def check_channel_request(self, kind: str, chanid: int) -> int:
        """Session channels only (transport thread)."""
        if kind == "session":
            return OPEN_SUCCEEDED
        return super().check_channel_request(kind, chanid)


class SFTPOnlyServer(SSHServer):
    """Serve ``service`` as the SFTP subsystem of every connection.

    The caller owns ``service`` and closes it after the server (``with`` both).
    """

    policy_class: ClassVar[type[ServerPolicy]] = SFTPPolicy

    def __init__(self, service: SFTPService, config: ServerConfig | None = None) -> None:
        super().__init__(config)
        self.service = service

    def on_transport(self, transport: paramiko.Transport, connection: Connection) -> None:
        """Register the SFTP subsystem on each new transport (accept thread)."""
        install(transport, self.service)
