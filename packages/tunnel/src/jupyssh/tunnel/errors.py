"""Typed errors of jupyssh-tunnel, each a subclass of a core error with its exit status.

Every class name ends in ``Error``; the names they had before stay as module-level aliases
(``TunnelExists = TunnelExistsError``) so that older imports keep working.
"""

from __future__ import annotations

from jupyssh.core.errors import ConfigError, JupyterError, SSHError

__all__ = [
    "NoJupyterServerError",
    "NoLingerError",
    "NoSystemdError",
    "TunnelExistsError",
    "TunnelNotFoundError",
    "WebSocketProxyError",
]


class NoJupyterServerError(JupyterError):
    """No Jupyter server answered on the host (and ``--launch`` was not given)."""

    kind = "no-jupyter-server"


class TunnelExistsError(ConfigError):
    """A tunnel of that name is already open."""

    kind = "tunnel-exists"


class TunnelNotFoundError(ConfigError):
    """No tunnel of that name is recorded."""

    kind = "tunnel-not-found"


class NoSystemdError(ConfigError):
    """The scope asked for needs a systemd manager that is not there."""

    kind = "no-systemd"


class NoLingerError(ConfigError):
    """A user unit would stop at logout and not start at boot: linger is off."""

    kind = "no-linger"


class WebSocketProxyError(SSHError):
    """The WebSocket endpoint behind ``ws-proxy`` refused or could not be reached.

    An ``SSHError`` (exit 4 from ``jupyssh``); as a ProxyCommand it makes ssh exit 255.
    """

    kind = "ws-proxy"


# The names before every error class ended in "Error" (kept for older imports).
NoJupyterServer = NoJupyterServerError
TunnelExists = TunnelExistsError
TunnelNotFound = TunnelNotFoundError
NoSystemd = NoSystemdError
NoLinger = NoLingerError
