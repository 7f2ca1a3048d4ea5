"""The remote side of a command that a timeout or a cancel stops on the host too.

Through a control master, ssh hands the command's pipes to the master process: killing
the local ssh client leaves the master holding them until the remote command ends on its
own (``sleep 30`` kept a "2 s timeout" waiting 30 s, and kept running). So a bounded
command records its pid on the host in a private file, and stopping it kills what it
started, through the master: the session ends, the master lets go of the pipes, and the
local client is reaped at once.

:func:`wrap` makes the command line that records and runs; :func:`kill` the one that
stops it. Both name the file by the same random ``token`` and find its folder the same
way (``$TMPDIR``, else ``/tmp``), so the kill, a second session of the same user, finds it.
"""

from __future__ import annotations

import re
import secrets
import shlex

__all__ = ["kill", "new_token", "wrap"]

_TOKEN = re.compile(r"[0-9a-f]{16}")

# $1: the token, $2: the command line. The wrapper records its own pid, from which the
# kill finds what the command started. A folder that cannot be written costs the
# command nothing but the ability to be killed.
_WRAPPER = (
    'f="${TMPDIR:-/tmp}/jupyssh-$1.pid"; (umask 077; echo $$ > "$f") 2>/dev/null; '
    'sh -c "$2"; status=$?; rm -f "$f"; exit $status'
)
# Freeze the wrapper's tree from the top (so that nothing forks meanwhile), kill it
# leaves first, then kill the wrapper's process group, for what left the tree (a double
# fork). `pgrep -P` is in procps, busybox and the BSDs; where it is missing, the group
# kill alone runs. That covers the common case by itself: sshd makes the login shell a
# session leader, and a login shell that execs the wrapper (bash) leaves it leading the
# group; one that forks it (dash) does not, hence the tree.
# (POSIX `kill -s KILL -- -PGID`: dash refuses `kill -KILL --`.)
_KILL = (
    'f="${TMPDIR:-/tmp}/jupyssh-$1.pid"; pid=$(cat "$f" 2>/dev/null) || exit 0; '
    't() { kill -s STOP "$1" 2>/dev/null; for c in $(pgrep -P "$1" 2>/dev/null); do t "$c"; done; '
    'kill -s KILL "$1" 2>/dev/null; }; '
    't "$pid"; kill -s KILL -- "-$pid" 2>/dev/null; rm -f "$f"'
)


def new_token() -> str:
    """A fresh name for one command's pid file."""
    return secrets.token_hex(8)


def wrap(command_line: str, token: str) -> str:
    """``command_line`` (for a POSIX shell) run so that :func:`kill` can stop it; its exit
    status, output and stdin are the command's own."""
    return shlex.join(["sh", "-c", _WRAPPER, "sh", _checked(token), command_line])


def kill(token: str) -> str:
    """The command line that kills what ``wrap(…, token)`` started, if it still runs."""
    return shlex.join(["sh", "-c", _KILL, "sh", _checked(token)])


def _checked(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"not a token from new_token(): {token!r}")
    return token
