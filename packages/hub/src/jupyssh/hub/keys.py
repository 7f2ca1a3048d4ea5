"""A user's public keys: ``~/.ssh/authorized_keys`` in their own server, read through its
Contents API at each login (no key store of the service's own; an edit counts at the next
login). The path is relative to the server's root, which is the user's home on a hub's
usual spawners; the server must serve hidden files (``ContentsManager.allow_hidden``).
"""

from __future__ import annotations

import logging

from jupyssh.core.errors import JupyterNotFoundError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import AuthorizedKey, parse_authorized_keys

__all__ = ["AUTHORIZED_KEYS_PATH", "MAX_AUTHORIZED_KEYS_BYTES", "user_keys"]

log = logging.getLogger(__name__)

#: Where a user keeps the keys that may log in as them, relative to their server's root.
AUTHORIZED_KEYS_PATH = ".ssh/authorized_keys"
#: A larger file is refused whole (sshd reads any size; a service reading every user's file
#: at every login bounds what one user can make it hold).
MAX_AUTHORIZED_KEYS_BYTES = 1 << 20


async def user_keys(client: JupyterClient, user: str) -> tuple[AuthorizedKey, ...]:
    """The usable keys of ``user``'s authorized_keys, read now; none if there is no such
    file (or it is too large, or not text)."""
    try:
        data = await client.read_file(AUTHORIZED_KEYS_PATH)
    except JupyterNotFoundError:
        log.info("%s has no ~/%s in their server", user, AUTHORIZED_KEYS_PATH)
        return ()
    if len(data) > MAX_AUTHORIZED_KEYS_BYTES:
        log.warning("%s: ~/%s is larger than 1 MiB; ignored", user, AUTHORIZED_KEYS_PATH)
        return ()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s: ~/%s is not UTF-8 text; ignored", user, AUTHORIZED_KEYS_PATH)
        return ()
    keys, problems = parse_authorized_keys(text)
    for problem in problems:
        log.info("%s: ~/%s line %d: %s", user, AUTHORIZED_KEYS_PATH, problem.line, problem.reason)
    return tuple(keys)
