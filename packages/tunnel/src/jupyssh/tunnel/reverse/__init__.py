"""Persistent reverse tunnels (``tunnel reverse``): ``ssh -R`` kept up across reboots and
network failures.

* :mod:`.spec`: the definition, its ssh argv and its systemd unit (pure, golden-tested);
* :mod:`.manage`: add, status, logs, remove, whatever the scope;
* :mod:`.systemd`: the ``system`` and ``user`` scopes (units);
* :mod:`.nohup`: the ``nohup`` scope (a restart loop and a pidfile);
* :mod:`.registry`: the record of every tunnel, which ``list`` reads.
"""

from jupyssh.tunnel.errors import NoLingerError, NoSystemdError
from jupyssh.tunnel.reverse.manage import (
    ReverseStatus,
    ScopeChoice,
    add_tunnel,
    choose_scope,
    remove_tunnel,
    tunnel_logs,
    tunnel_status,
)
from jupyssh.tunnel.reverse.registry import list_tunnels, load_spec
from jupyssh.tunnel.reverse.spec import TunnelSpec

# The names before every error class ended in "Error" (kept for older imports).
NoSystemd = NoSystemdError
NoLinger = NoLingerError

__all__ = [
    "NoLingerError",
    "NoSystemdError",
    "ReverseStatus",
    "ScopeChoice",
    "TunnelSpec",
    "add_tunnel",
    "choose_scope",
    "list_tunnels",
    "load_spec",
    "remove_tunnel",
    "tunnel_logs",
    "tunnel_status",
]
