"""Typed errors shared by every jupyssh package.

Every failure a user can meet is one of these classes. Each carries what failed
(``message``), where (``where``: a host alias, a URL, a path) and what to try next
(``hint``), and each class has a documented process exit code that the ``jupyssh``
command uses when the error reaches it (see ``docs/errors.md``).

Library callers catch the narrowest class they can act on: ``SSHAuthenticationError``
to offer a different key, ``SSHConnectError`` for anything that kept a connection from
being made, ``JupysshError`` for all of them.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "ControlMasterError",
    "ForwardingError",
    "HostKeyChangedError",
    "HostKeyError",
    "HostKeyUnknownError",
    "JupysshError",
    "JupyterAuthError",
    "JupyterError",
    "JupyterHTTPError",
    "JupyterNotFoundError",
    "KernelConnectionError",
    "OperationTimeout",
    "RemoteCommandError",
    "RemoteCommandNotFound",
    "SSHAuthenticationError",
    "SSHConnectError",
    "SSHConnectionRefused",
    "SSHError",
    "SSHNameResolutionError",
    "SSHTimeout",
    "ServerConfigError",
    "exit_codes",
]


class JupysshError(Exception):
    """Base of every error jupyssh raises on purpose.

    ``str(error)`` is the one line the CLI prints: message, then ``where``, then the hint.
    """

    #: Process exit status the ``jupyssh`` command uses for this class.
    exit_code: ClassVar[int] = 1
    #: Short stable name used in ``--json`` output.
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.where:
            text = f"{text} [{self.where}]"
        if self.hint:
            text = f"{text}: {self.hint}"
        return text

    def to_dict(self) -> dict[str, str | int | None]:
        """The same facts as ``str(self)``, for ``--json`` output."""
        return {
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class ConfigError(JupysshError):
    """A configuration (ssh config, option, file) that cannot be used as given."""

    exit_code = 3
    kind = "config"


class OperationTimeout(JupysshError):
    """An operation jupyssh bounded with a timeout did not finish in time."""

    exit_code = 8
    kind = "timeout"


# --- OpenSSH client --------------------------------------------------------------------------


class SSHError(JupysshError):
    """ssh failed; ``stderr`` holds the last line ssh itself printed, if any."""

    exit_code = 4
    kind = "ssh"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.stderr = stderr

    def to_dict(self) -> dict[str, str | int | None]:
        data = super().to_dict()
        data["stderr"] = self.stderr
        return data


class SSHConnectError(SSHError):
    """No connection could be made to a host (any reason below)."""

    kind = "connect"


class SSHNameResolutionError(SSHConnectError):
    """The host name did not resolve."""

    kind = "name-resolution"


class SSHConnectionRefused(SSHConnectError):
    """The host answered, but nothing listens on the ssh port."""

    kind = "connection-refused"


class SSHTimeout(SSHConnectError):
    """The host did not answer within ssh's ConnectTimeout."""

    exit_code = 8
    kind = "connect-timeout"


class SSHAuthenticationError(SSHConnectError):
    """The server refused every credential offered."""

    exit_code = 5
    kind = "authentication"


class HostKeyError(SSHConnectError):
    """The server's host key could not be verified."""

    exit_code = 6
    kind = "host-key"


class HostKeyUnknownError(HostKeyError):
    """The server's host key is not in known_hosts and ssh may not ask."""

    kind = "host-key-unknown"


class HostKeyChangedError(HostKeyError):
    """The server's host key differs from the one in known_hosts."""

    kind = "host-key-changed"


class ForwardingError(SSHError):
    """A port or socket forward could not be set up."""

    kind = "forwarding"


class ControlMasterError(SSHError):
    """A control master could not be started, checked or stopped."""

    kind = "control-master"


class RemoteCommandError(SSHError):
    """A remote command ran and exited with a non-zero status."""

    exit_code = 7
    kind = "remote-command"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        stderr: str = "",
        returncode: int = 1,
    ) -> None:
        super().__init__(message, where=where, hint=hint, stderr=stderr)
        self.returncode = returncode

    def to_dict(self) -> dict[str, str | int | None]:
        data = super().to_dict()
        data["returncode"] = self.returncode
        return data


class RemoteCommandNotFound(RemoteCommandError):
    """The remote shell could not find the program asked for."""

    kind = "remote-command-not-found"


# --- Jupyter server client -------------------------------------------------------------------


class JupyterError(JupysshError):
    """A Jupyter server could not do what was asked."""

    exit_code = 9
    kind = "jupyter"


class JupyterHTTPError(JupyterError):
    """The Jupyter server answered with an HTTP error status."""

    kind = "jupyter-http"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        status: int = 0,
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.status = status

    def to_dict(self) -> dict[str, str | int | None]:
        data = super().to_dict()
        data["status"] = self.status
        return data


class JupyterAuthError(JupyterHTTPError):
    """The token was missing or refused (HTTP 401 or 403)."""

    exit_code = 5
    kind = "jupyter-auth"


class JupyterNotFoundError(JupyterHTTPError):
    """The path, kernel or endpoint does not exist (HTTP 404)."""

    kind = "jupyter-not-found"


class KernelConnectionError(JupyterError):
    """The kernel's WebSocket could not be opened or was lost."""

    kind = "kernel-connection"


# --- SSH servers (bridge, sftp) --------------------------------------------------------------


class ServerConfigError(ConfigError):
    """An SSH server jupyssh runs was configured in a way it refuses (unsafe or unusable)."""

    kind = "server-config"


def exit_codes() -> dict[str, int]:
    """Every error kind and its exit status, for the docs and ``--json`` consumers."""
    seen: dict[str, int] = {}
    stack: list[type[JupysshError]] = [JupysshError]
    while stack:
        cls = stack.pop()
        seen[cls.kind] = cls.exit_code
        stack.extend(cls.__subclasses__())
    return dict(sorted(seen.items()))
