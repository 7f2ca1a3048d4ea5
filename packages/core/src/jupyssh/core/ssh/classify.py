"""Turn what OpenSSH printed on a failure into the typed error that names its cause.

ssh reports every failure of its own with exit status 255 and a message on stderr; the
wording is stable across OpenSSH releases (these messages come from ``ssh.c``,
``sshconnect.c``, ``sshconnect2.c``, ``mux.c`` and ``channels.c``). The table is read top
down and the first match wins, so a more specific cause stands above a more general one
(a changed host key prints "Host key verification failed." too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jupyssh.core.errors import (
    ControlMasterError,
    ForwardingError,
    HostKeyChangedError,
    HostKeyUnknownError,
    SSHAuthenticationError,
    SSHConnectError,
    SSHConnectionRefused,
    SSHError,
    SSHNameResolutionError,
    SSHTimeout,
)

__all__ = ["classify_ssh_failure", "last_line", "match_ssh_failure"]


@dataclass(frozen=True)
class _Cause:
    pattern: re.Pattern[str]
    error: type[SSHError]
    message: str
    hint: str


def _cause(pattern: str, error: type[SSHError], message: str, hint: str) -> _Cause:
    return _Cause(re.compile(pattern, re.IGNORECASE | re.MULTILINE), error, message, hint)


_CAUSES: tuple[_Cause, ...] = (
    _cause(
        r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed",
        HostKeyChangedError,
        "the host key differs from the one in known_hosts",
        "if the host was reinstalled, remove the old key with `ssh-keygen -R HOST` "
        "and verify the new fingerprint out of band; otherwise do not connect",
    ),
    _cause(
        r"No \S+ host key is known for|Host key verification failed",
        HostKeyUnknownError,
        "the host key is not in known_hosts",
        "connect once interactively with `ssh HOST` and check the fingerprint, "
        "or add the host's key to known_hosts",
    ),
    _cause(
        r"Could not resolve hostname|open failed: connect failed: "
        r"(Name or service not known|Temporary failure in name resolution)",
        SSHNameResolutionError,
        "the host name does not resolve",
        "check HostName in the ssh config and the DNS or /etc/hosts entry",
    ),
    _cause(
        r"Connection refused",
        SSHConnectionRefused,
        "the connection was refused",
        "check that sshd runs on the host and that Port is right",
    ),
    _cause(
        r"timed out|Connection timed out|Operation timed out",
        SSHTimeout,
        "the host did not answer in time",
        "check the host is up and reachable (VPN, firewall), or raise ConnectTimeout",
    ),
    _cause(
        r"Permission denied \(|Too many authentication failures|"
        r"Authentication failed|no more authentication methods",
        SSHAuthenticationError,
        "authentication was refused",
        "check User and IdentityFile, that the public key is in the host's "
        "authorized_keys, and that a passphrase-protected key is loaded in ssh-agent",
    ),
    _cause(
        r"No route to host|Network is unreachable|Host is unreachable",
        SSHConnectError,
        "the host is unreachable",
        "check the network path to the host (VPN, routes)",
    ),
    _cause(
        r"cannot listen to port|Port forwarding failed|Could not request local forwarding|"
        r"remote port forwarding failed|Address already in use",
        ForwardingError,
        "the forward could not be set up",
        "the local port may be in use, or the server may forbid forwarding "
        "(AllowTcpForwarding / AllowStreamLocalForwarding)",
    ),
    _cause(
        r"Control socket connect\(|No ControlPath specified|control socket",
        ControlMasterError,
        "no control master answers on the control socket",
        "start one with `ssh -M -N -f HOST`, or let jupyssh start it",
    ),
    _cause(
        r"kex_exchange_identification|Connection closed by|Connection reset|"
        r"banner exchange|stdio forwarding failed",
        SSHConnectError,
        "the server closed the connection before login",
        "check the host runs sshd on that port (MaxStartups, fail2ban and "
        "jump hosts can also drop connections)",
    ),
)


def last_line(stderr: str) -> str:
    """The last non-empty line ssh printed: the one that usually says what went wrong."""
    for line in reversed(stderr.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def match_ssh_failure(stderr: str, *, where: str) -> SSHError | None:
    """The typed error for a known ssh failure message in ``stderr``, or None."""
    for cause in _CAUSES:
        if cause.pattern.search(stderr):
            return cause.error(
                cause.message, where=where, hint=cause.hint, stderr=last_line(stderr)
            )
    return None


def classify_ssh_failure(stderr: str, *, where: str) -> SSHError:
    """The typed error for a failed ssh whose stderr was ``stderr``, talking to ``where``.

    Never raises; the caller raises what it returns. Unknown failures become a plain
    ``SSHError`` carrying ssh's own last line as its message.
    """
    known = match_ssh_failure(stderr, where=where)
    if known is not None:
        return known
    tail = last_line(stderr)
    return SSHError(
        f"ssh failed: {tail}" if tail else "ssh failed without a message",
        where=where,
        hint="run again with -vvv to see ssh's own log",
        stderr=tail,
    )
