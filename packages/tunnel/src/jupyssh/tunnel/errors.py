"""Typed errors of jupyssh-tunnel, each a subclass of a core error with its exit status."""

from __future__ import annotations

from jupyssh.core.errors import ConfigError, JupyterError, SSHError

__all__ = ["NoJupyterServer", "TunnelExists", "TunnelNotFound", "WebSocketProxyError"]


class NoJupyterServer(JupyterError):
    """No Jupyter server answered on the host (and ``--launch`` was not given)."""

    kind = "no-jupyter-server"


class TunnelExists(ConfigError):
    """A tunnel of that name is already open."""

    kind = "tunnel-exists"


class TunnelNotFound(ConfigError):
    """No tunnel of that name is recorded."""

    kind = "tunnel-not-found"


class WebSocketProxyError(SSHError):
    """The WebSocket endpoint behind ``ws-proxy`` refused or could not be reached.

    An ``SSHError`` (exit 4 from ``jupyssh``); as a ProxyCommand it makes ssh exit 255.
    """

    kind = "ws-proxy"
