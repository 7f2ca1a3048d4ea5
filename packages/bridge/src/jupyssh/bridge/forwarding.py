"""The bridge's port-forwarding policy, with OpenSSH's meaning.

- ``forwarding``: which forwards are allowed at all, as sshd's ``AllowTcpForwarding``
  (``all`` by default, as sshd's ``yes``: a user who can run code in the kernel can already
  open any socket there). ``local`` covers ``direct-tcpip`` and
  ``direct-streamlocal@openssh.com`` (``ssh -L``, ``-W``, ``-D``), ``remote`` covers
  ``tcpip-forward`` (``ssh -R``).
- ``permit_open``: sshd's ``PermitOpen``: ``host:port`` entries, ``*`` for any host or any
  port, no other pattern and no name lookup; ``None`` permits any (``any``), an empty
  tuple none (``none``). Unix-socket forwards are not restricted by it (as sshd).
- ``permit_listen``: sshd's ``PermitListen``: ``port`` or ``host:port``; the host may hold
  ``*`` and ``?`` wildcards, the port may be ``*`` (needed to allow port 0, "any free
  port"). A ``port`` alone matches any listen host.
- ``gateway_ports``: sshd's ``GatewayPorts``: without it remote listeners bind the
  Jupyter host's loopback whatever address the client asked for; with it, the address
  asked for (``""``, ``*`` and ``0.0.0.0``: every address).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FORWARDING_CHOICES",
    "Forwarding",
    "ForwardingPolicy",
    "Permit",
    "parse_permits",
]

Forwarding = Literal["none", "local", "remote", "all"]
FORWARDING_CHOICES: tuple[Forwarding, ...] = ("none", "local", "remote", "all")
#: A permitted host or port that stands for any.
ANY = "*"
#: Hosts a listener binds when the client asks for every address (``GatewayPorts yes``).
EVERY_ADDRESS = frozenset({"", "*", "0.0.0.0"})  # noqa: S104 - only with gateway_ports


@dataclass(frozen=True)
class Permit:
    """One ``PermitOpen`` / ``PermitListen`` entry (``host`` ``*`` and ``port`` ``None``
    stand for any)."""

    host: str
    port: int | None

    def matches(self, host: str, port: int, *, wildcards: bool) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host == ANY:
            return True
        if wildcards:
            return fnmatch.fnmatchcase(host.lower(), self.host.lower())
        return host.lower() == self.host.lower()


def parse_permits(specs: Iterable[str], *, listen: bool) -> tuple[Permit, ...] | None:
    """``--permit-open`` / ``--permit-listen`` values (each may hold several entries
    separated by spaces) as permits; ``None`` for ``any``. Raises ``ValueError`` on a
    malformed entry."""
    words = [word for spec in specs for word in spec.split()]
    if not words or words == ["any"]:
        return None
    if words == ["none"]:
        return ()
    if "any" in words or "none" in words:
        raise ValueError("'any' and 'none' stand alone")
    return tuple(_parse_permit(word, listen=listen) for word in words)


def _parse_permit(word: str, *, listen: bool) -> Permit:
    if listen and ":" not in word:
        host, port_text = ANY, word
    elif word.startswith("["):
        host, sep, port_text = word[1:].partition("]:")
        if not sep:
            raise ValueError(f"{word!r}: expected [address]:port")
    else:
        host, sep, port_text = word.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{word!r}: expected host:port")
    if port_text == ANY:
        return Permit(host, None)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{word!r}: the port must be 1-65535 or *")
    return Permit(host, int(port_text))


@dataclass(frozen=True)
class ForwardingPolicy:
    """What a connection may forward (see the module docstring)."""

    forwarding: Forwarding = "all"
    permit_open: tuple[Permit, ...] | None = None
    permit_listen: tuple[Permit, ...] | None = None
    gateway_ports: bool = False

    @property
    def local(self) -> bool:
        return self.forwarding in {"local", "all"}

    @property
    def remote(self) -> bool:
        return self.forwarding in {"remote", "all"}

    def allows_open(self, host: str, port: int) -> bool:
        """Whether a ``direct-tcpip`` to ``host:port`` is allowed."""
        if not self.local:
            return False
        if self.permit_open is None:
            return True
        return any(p.matches(host, port, wildcards=False) for p in self.permit_open)

    def allows_streamlocal(self) -> bool:
        """Whether a ``direct-streamlocal@openssh.com`` is allowed."""
        return self.local

    def allows_listen(self, host: str, port: int) -> bool:
        """Whether a ``tcpip-forward`` on ``host:port`` is allowed (port 0 only with a
        ``*`` port, as sshd)."""
        if not self.remote:
            return False
        if self.permit_listen is None:
            return True
        return any(
            p.matches(host, port, wildcards=True) and (port != 0 or p.port is None)
            for p in self.permit_listen
        )

    def bind_host(self, requested: str) -> str:
        """The address a remote listener binds for a client's ``requested`` address."""
        if not self.gateway_ports or requested in {"localhost", "127.0.0.1"}:
            return "127.0.0.1"
        if requested in EVERY_ADDRESS:
            return "0.0.0.0"  # noqa: S104 - asked for, and allowed by gateway_ports
        return requested
