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

import importlib
from collections.abc import Mapping
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
    "OperationTimeoutError",
    "RemoteCommandError",
    "RemoteCommandNotFoundError",
    "SSHAuthenticationError",
    "SSHConnectError",
    "SSHConnectionRefusedError",
    "SSHError",
    "SSHNameResolutionError",
    "SSHTimeoutError",
    "ServerConfigError",
    "exit_codes",
    "installed_error_classes",
]


class JupysshError(Exception):
    """Base of every error jupyssh raises on purpose.

    ``str(error)`` is the one line the CLI prints: message, then ``where``, then the hint.
    A subclass that carries more facts names them with their defaults in ``facts``; they
    are keyword arguments of the constructor, attributes, and keys of :meth:`to_dict`.
    """

    #: Process exit status the ``jupyssh`` command uses for this class.
    exit_code: ClassVar[int] = 1
    #: Short stable name used in ``--json`` output.
    kind: ClassVar[str] = "error"
    #: The extra facts this class carries, each with its default (which also gives its type).
    facts: ClassVar[Mapping[str, str | int]] = {}

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        **facts: str | int,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        unknown = facts.keys() - self.facts.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no fact {', '.join(sorted(unknown))}")
        for name, default in self.facts.items():
            value = facts.get(name, default)
            if type(value) is not type(default):
                raise TypeError(f"{type(self).__name__}: {name} must be {type(default).__name__}")
            setattr(self, name, value)

    def __str__(self) -> str:
        text = self.message
        if self.where:
            text = f"{text} [{self.where}]"
        if self.hint:
            text = f"{text}: {self.hint}"
        return text

    def to_dict(self) -> dict[str, str | int | None]:
        """The same facts as ``str(self)``, for ``--json`` output."""
        data: dict[str, str | int | None] = {
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }
        data.update((name, getattr(self, name)) for name in self.facts)
        return data


class ConfigError(JupysshError):
    """A configuration (ssh config, option, file) that cannot be used as given."""

    exit_code = 3
    kind = "config"


class OperationTimeoutError(JupysshError):
    """An operation jupyssh bounded with a timeout did not finish in time."""

    exit_code = 8
    kind = "timeout"


# --- OpenSSH client --------------------------------------------------------------------------


class SSHError(JupysshError):
    """ssh failed; ``stderr`` holds the last line ssh itself printed, if any."""

    exit_code = 4
    kind = "ssh"
    facts: ClassVar[Mapping[str, str | int]] = {"stderr": ""}
    stderr: str


class SSHConnectError(SSHError):
    """No connection could be made to a host (any reason below)."""

    kind = "connect"


class SSHNameResolutionError(SSHConnectError):
    """The host name did not resolve."""

    kind = "name-resolution"


class SSHConnectionRefusedError(SSHConnectError):
    """The host answered, but nothing listens on the ssh port."""

    kind = "connection-refused"


class SSHTimeoutError(SSHConnectError):
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
    facts: ClassVar[Mapping[str, str | int]] = {"stderr": "", "returncode": 1}
    returncode: int


class RemoteCommandNotFoundError(RemoteCommandError):
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
    facts: ClassVar[Mapping[str, str | int]] = {"status": 0}
    status: int


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


# Old names, kept so that callers' imports keep working (class names end in Error, PEP 8).
OperationTimeout = OperationTimeoutError
SSHConnectionRefused = SSHConnectionRefusedError
SSHTimeout = SSHTimeoutError
RemoteCommandNotFound = RemoteCommandNotFoundError


def _tree() -> list[type[JupysshError]]:
    """JupysshError and every subclass defined so far (in every imported module)."""
    found: list[type[JupysshError]] = []
    stack: list[type[JupysshError]] = [JupysshError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def exit_codes() -> dict[str, int]:
    """Every error kind imported so far and its exit status, for ``--json`` consumers."""
    return dict(sorted((cls.kind, cls.exit_code) for cls in _tree()))


def installed_error_classes() -> list[type[JupysshError]]:
    """The error classes of every installed jupyssh package: the error reference.

    Each package keeps its classes in ``jupyssh.<name>.errors`` (distribution
    ``jupyssh-<name>``); a package without that module has no error class of its own.
    Classes come package by package, then by exit status and kind.
    """
    # here, not at the top: importlib.metadata costs every importer of this module ~40 ms
    from importlib.metadata import distributions  # noqa: PLC0415

    modules = {__name__}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower()
        if not name.startswith("jupyssh-"):
            continue
        package = f"jupyssh.{name.removeprefix('jupyssh-').replace('-', '_')}"
        module = f"{package}.errors"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name not in (package, module):
                raise  # the errors module exists but one of its imports is missing
            continue
        modules.add(module)
    classes = [cls for cls in _tree() if cls.__module__ in modules]
    return sorted(
        classes,
        key=lambda cls: (cls.__module__ != __name__, cls.__module__, cls.exit_code, cls.kind),
    )
