"""One SSH and SFTP endpoint for every user of a JupyterHub, run as a hub service.

A login as ``alice`` is alice's server: jupyssh-bridge runs her commands and shells in a
kernel (or a terminal) of it, jupyssh-sftp serves her files, and the keys that may log in
are those in ``~/.ssh/authorized_keys`` of that same server. ``jupyssh hub serve`` runs it
with the token and API URL a hub gives its services::

    from jupyssh.hub import HubServer, HubService

    service = HubService.from_env(os.environ)
    with HubServer(service, ServerConfig(port=2222)) as server:
        server.serve_forever(handle_signals=True)

Modules, each importing only those before it: ``errors``, ``hubapi`` (the hub's REST API
with the service's token), ``keys`` (a user's keys, read from their server), ``server``
(the SSH server), ``cli``.
"""

from jupyssh.hub._version import __version__
from jupyssh.hub.errors import HubAPIError, HubAuthError, HubConfigError
from jupyssh.hub.hubapi import HubAPI, HubService, Login, UserServer, valid_user_name
from jupyssh.hub.keys import AUTHORIZED_KEYS_PATH, user_keys
from jupyssh.hub.server import HubOptions, HubPolicy, HubServer, UserBackend

__all__ = [
    "AUTHORIZED_KEYS_PATH",
    "HubAPI",
    "HubAPIError",
    "HubAuthError",
    "HubConfigError",
    "HubOptions",
    "HubPolicy",
    "HubServer",
    "HubService",
    "Login",
    "UserBackend",
    "UserServer",
    "__version__",
    "user_keys",
    "valid_user_name",
]
