"""The typed errors of jupyssh-hub, each saying what failed and what to try.

They subclass :mod:`jupyssh.core.errors`, so the ``jupyssh`` command prints them as one
line with their exit status.
"""

from __future__ import annotations

from jupyssh.core.errors import ConfigError, JupyterAuthError, JupyterError

__all__ = ["HubAPIError", "HubAuthError", "HubConfigError"]


class HubConfigError(ConfigError):
    """The service lacks what a hub gives its services (API URL, token)."""

    kind = "hub-config"


class HubAPIError(JupyterError):
    """The hub's REST API could not do what was asked (unreachable, an error status)."""

    kind = "hub-api"


class HubAuthError(JupyterAuthError):
    """The hub refused the service's token, or its role lacks a scope (HTTP 401/403)."""

    kind = "hub-auth"
