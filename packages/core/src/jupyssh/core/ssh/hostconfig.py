"""The typed result of ``ssh -G``: every option OpenSSH would use for one host.

``ssh -G`` is the truth about a host alias: it applies Include, Match, wildcards, defaults
and token expansion exactly as a connection would. This module only parses what it prints;
running it is :mod:`jupyssh.core.ssh.resolve`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyssh.core.errors import ConfigError

__all__ = ["HostConfig", "JumpSpec", "parse_jump_specs", "parse_ssh_g"]


def parse_ssh_g(text: str) -> dict[str, tuple[str, ...]]:
    """Parse ``ssh -G`` output into ``{keyword: (value, ...)}``.

    Keywords are lower case, as ssh prints them. Every keyword maps to a tuple because
    several may appear more than once (identityfile, localforward, sendenv, ...); a
    keyword printed once has a one-element tuple. Order is kept: ssh prints repeated
    keywords in the order that gives them precedence.
    """
    options: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        options.setdefault(key.lower(), []).append(value.strip())
    return {key: tuple(values) for key, values in options.items()}


@dataclass(frozen=True)
class JumpSpec:
    """One hop of a ProxyJump list: ``[user@]host[:port]`` or ``ssh://[user@]host[:port]``."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        text = self.host if ":" not in self.host else f"[{self.host}]"
        if self.user:
            text = f"{self.user}@{text}"
        if self.port is not None:
            text = f"{text}:{self.port}"
        return text

    @property
    def destination(self) -> str:
        """The form ssh takes on its command line: ``ssh://`` is needed to carry a port."""
        if self.user is None and self.port is None:
            return self.host  # an alias, passed through exactly as given
        text = str(self)
        return f"ssh://{text}" if self.port is not None else text

    @classmethod
    def from_destination(cls, destination: str) -> JumpSpec:
        """``user@host``, ``ssh://user@host:port`` or a plain alias, as ssh would read it."""
        match = _JUMP.match(destination.strip())
        if match is None or (match["port"] and not destination.startswith("ssh://")):
            # ssh reads host:port only in the URI form; anything else is an alias as given.
            return cls(destination)
        port = match["port"]
        return cls(match["host6"] or match["host"], match["user"], int(port) if port else None)

    @property
    def key(self) -> tuple[str, str | None, int | None]:
        """Identity used for loop detection and caching."""
        return (self.host.lower(), self.user, self.port)


_JUMP = re.compile(
    r"""^(?:ssh://)?
        (?:(?P<user>[^@/]+)@)?
        (?:\[(?P<host6>[^\]]+)\]|(?P<host>[^:@/\[\]]+))
        (?::(?P<port>\d+))?
        /?$""",
    re.VERBOSE,
)


def parse_jump_specs(value: str) -> tuple[JumpSpec, ...]:
    """Parse a ProxyJump value (``none`` or a comma-separated list) into hops, first first."""
    value = value.strip()
    if not value or value.lower() == "none":
        return ()
    hops = []
    for part in value.split(","):
        match = _JUMP.match(part.strip())
        if match is None:
            raise ConfigError(
                f"cannot parse ProxyJump entry {part.strip()!r}",
                hint="use [user@]host[:port] or ssh://[user@]host[:port], comma-separated",
            )
        port = match["port"]
        hops.append(
            JumpSpec(
                host=match["host6"] or match["host"],
                user=match["user"],
                port=int(port) if port else None,
            )
        )
    return tuple(hops)


@dataclass(frozen=True)
class HostConfig:
    """What ``ssh -G`` says about one destination.

    ``destination`` is what was asked for (an alias, ``user@host``, or a ProxyJump hop);
    ``options`` holds every keyword ssh printed. The properties below read the keywords
    jupyssh needs most often; anything else is in ``options``.
    """

    destination: str
    options: Mapping[str, tuple[str, ...]]
    config_file: str | None = None
    #: Lines ssh printed on stderr while resolving (deprecated or unsupported options).
    warnings: tuple[str, ...] = field(default=())

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (lower case), or ``default``."""
        values = self.options.get(key.lower())
        return values[0] if values else default

    def get_all(self, key: str) -> tuple[str, ...]:
        """Every value of a keyword that may repeat (``identityfile``, ``localforward``)."""
        return self.options.get(key.lower(), ())

    @property
    def hostname(self) -> str:
        return self.get("hostname") or self.destination

    @property
    def user(self) -> str | None:
        return self.get("user")

    @property
    def port(self) -> int:
        return int(self.get("port") or 22)

    @property
    def identity_files(self) -> tuple[str, ...]:
        return self.get_all("identityfile")

    @property
    def proxy_jump(self) -> tuple[JumpSpec, ...]:
        return parse_jump_specs(self.get("proxyjump") or "none")

    @property
    def proxy_command(self) -> str | None:
        value = self.get("proxycommand")
        return None if value is None or value.lower() == "none" else value

    @property
    def control_master(self) -> str:
        """``ssh -G`` prints ``false``/``true``/``auto``/``ask``/``autoask``."""
        return self.get("controlmaster") or "false"

    @property
    def control_path(self) -> str | None:
        """The expanded control socket path, or None when ControlPath is none or unset."""
        value = self.get("controlpath")
        return None if value is None or value.lower() == "none" else value

    @property
    def control_persist(self) -> str:
        return self.get("controlpersist") or "no"

    @property
    def batch_mode(self) -> bool:
        return (self.get("batchmode") or "no").lower() == "yes"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the destination, the config file and every option."""
        return {
            "destination": self.destination,
            "config_file": self.config_file,
            "hostname": self.hostname,
            "user": self.user,
            "port": self.port,
            "options": {key: list(values) for key, values in self.options.items()},
            "warnings": list(self.warnings),
        }
