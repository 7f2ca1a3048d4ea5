"""A small paramiko SSH server base that jupyssh's servers (bridge, sftp) build on.

It owns what every such server must get right, and nothing else:

- a persistent per-installation ed25519 host key (:mod:`.hostkey`), its ``SHA256:``
  fingerprint and a ready-to-paste ``known_hosts`` line;
- public-key authentication against an OpenSSH ``authorized_keys`` file that is re-read
  when it changes (:mod:`.authorized_keys`); no passwords, ever;
- a deny-by-default :class:`ServerPolicy` (a paramiko ``ServerInterface``) that subclasses
  open up one capability at a time;
- a listener (:class:`SSHServer`) bound to 127.0.0.1 unless told otherwise, with sshd's
  limits (pre-authentication early drop and per-source cap, login grace time, authenticated
  connections, channels per connection, idle timeout) and a clean, bounded shutdown;
- the command-line options for all of that, shared by every ``serve`` command
  (:mod:`jupyssh.core.server.options`, which also needs the ``jupyter`` extra).

Needs the ``server`` extra: ``pip install 'jupyssh-core[server]'``.

Threading contract, in one place (each hook's docstring repeats its part):

============================================  ============================================
runs on                                       what
============================================  ============================================
the accept thread (``start()``'s thread, or   :meth:`SSHServer.make_policy`,
the caller of ``serve_forever()``)            :meth:`SSHServer.on_transport`
paramiko's transport thread (one per          every ``ServerPolicy`` ``check_*`` /
connection)                                   ``get_*`` hook, :meth:`Connection.after_request`
                                              callbacks — none of them may block
the connection's supervisor thread            :meth:`SSHServer.on_channel`,
(``jupyssh-ssh-conn-<n>``)                    :meth:`SSHServer.on_connection_closed`
the thread that shuts the server down         :meth:`SSHServer.on_server_closed`
============================================  ============================================
"""

from __future__ import annotations

try:
    import paramiko as _paramiko  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "jupyssh.core.server needs paramiko: pip install 'jupyssh-core[server]'"
    ) from exc

from jupyssh.core.server.authorized_keys import (
    SUPPORTED_KEY_TYPES,
    AuthorizedKey,
    AuthorizedKeys,
    KeyProblem,
    default_authorized_keys_path,
    parse_authorized_keys,
)
from jupyssh.core.server.base import ServerConfig, SSHServer
from jupyssh.core.server.connection import Connection
from jupyssh.core.server.hostkey import (
    default_host_key_path,
    fingerprint,
    known_hosts_line,
    load_or_create_host_key,
)
from jupyssh.core.server.limits import MaxStartups
from jupyssh.core.server.policy import ServerPolicy

__all__ = [
    "SUPPORTED_KEY_TYPES",
    "AuthorizedKey",
    "AuthorizedKeys",
    "Connection",
    "KeyProblem",
    "MaxStartups",
    "SSHServer",
    "ServerConfig",
    "ServerPolicy",
    "default_authorized_keys_path",
    "default_host_key_path",
    "fingerprint",
    "known_hosts_line",
    "load_or_create_host_key",
    "parse_authorized_keys",
]
