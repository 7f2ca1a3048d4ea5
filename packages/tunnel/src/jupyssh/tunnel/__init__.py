"""jupyssh-tunnel: tunnels for remote Jupyter over OpenSSH.

``open_jupyter(alias)`` finds (or with ``launch=True`` starts) the Jupyter server on an
ssh host, forwards a port on 127.0.0.1 through a control master of its own, checks
``/api/status`` with the token and opens the browser; ``stop_jupyter(alias)`` undoes it.
``jupyssh.tunnel.wsproxy`` bridges ssh to a jupyter-sshd-proxy WebSocket (a ProxyCommand);
``jupyssh.tunnel.reverse`` installs persistent reverse tunnels (systemd units, or a
pidfile loop without systemd). One subpackage per feature: ``jupyter``, ``reverse``, and
the module ``wsproxy``.
"""

import importlib

from jupyssh.tunnel._version import __version__
from jupyssh.tunnel.errors import (
    NoJupyterServerError,
    TunnelExistsError,
    TunnelNotFoundError,
    WebSocketProxyError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from jupyssh.tunnel.jupyter import OpenedJupyter, StoppedJupyter, open_jupyter, stop_jupyter
    from jupyssh.tunnel.jupyter.remote import (
        Discovery,
        ServerRecord,
        discover_servers,
        parse_discovery,
    )

# Imported when first used: `jupyssh tunnel ws-proxy` is ssh's ProxyCommand and runs at
# every login; the Jupyter tunnel's HTTP client would add ~0.1 s to each (PEP 562).
_LAZY = {
    "OpenedJupyter": "jupyssh.tunnel.jupyter",
    "StoppedJupyter": "jupyssh.tunnel.jupyter",
    "open_jupyter": "jupyssh.tunnel.jupyter",
    "stop_jupyter": "jupyssh.tunnel.jupyter",
    "Discovery": "jupyssh.tunnel.jupyter.remote",
    "ServerRecord": "jupyssh.tunnel.jupyter.remote",
    "discover_servers": "jupyssh.tunnel.jupyter.remote",
    "parse_discovery": "jupyssh.tunnel.jupyter.remote",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The names before every error class ended in "Error" (kept for older imports).
NoJupyterServer = NoJupyterServerError
TunnelExists = TunnelExistsError
TunnelNotFound = TunnelNotFoundError

__all__ = [
    "Discovery",
    "NoJupyterServerError",
    "OpenedJupyter",
    "ServerRecord",
    "StoppedJupyter",
    "TunnelExistsError",
    "TunnelNotFoundError",
    "WebSocketProxyError",
    "__version__",
    "discover_servers",
    "open_jupyter",
    "parse_discovery",
    "stop_jupyter",
]
