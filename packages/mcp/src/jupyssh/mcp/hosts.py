"""The ssh aliases the tools reach: listed from the user's ssh config, each driven
through :mod:`jupyssh.core.ssh` behind the allowlist, one control master per alias.

Listing reads only the ``Host`` lines (and the files ``Include`` names): which aliases
exist. Everything else about an alias (user, port, jumps) comes from ``ssh -G``, as for
every jupyssh command.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from jupyssh.core.errors import JupysshError
from jupyssh.core.ssh import AsyncSSHHost, CommandResult, HostConfig
from jupyssh.mcp.settings import Settings

__all__ = ["HostFactory", "HostPool", "RemoteHost", "config_aliases"]

log = logging.getLogger(__name__)

#: Include nesting OpenSSH itself allows.
_MAX_INCLUDE_DEPTH = 16
_WILDCARDS = set("*?!")


class RemoteHost(Protocol):
    """What the tools use of :class:`jupyssh.core.ssh.AsyncSSHHost` (a fake in tests)."""

    async def config(self) -> HostConfig: ...

    async def run(
        self, command: Sequence[str], *, timeout: float | None = ..., check: bool = ...
    ) -> CommandResult: ...

    async def run_script(
        self,
        script: str | bytes,
        *,
        interpreter: Sequence[str] = ...,
        args: Sequence[str] = ...,
        timeout: float | None = ...,
        check: bool = ...,
    ) -> CommandResult: ...

    async def command_argv(self, command: Sequence[str]) -> list[str]: ...

    async def start_master(self) -> int: ...

    async def master_pid(self) -> int | None: ...

    async def close(self) -> None: ...


#: Makes the host for ``(alias, ssh_config_file)``.
HostFactory = Callable[[str, "str | None"], RemoteHost]


def _ssh_host(alias: str, config_file: str | None) -> RemoteHost:
    return AsyncSSHHost(alias, config_file=config_file)


class HostPool:
    """One host object per allowed alias, so that its control master is shared by every
    call; :meth:`close` stops the masters the pool started (a user's own is left)."""

    def __init__(self, settings: Settings, factory: HostFactory = _ssh_host) -> None:
        self.settings = settings
        self._factory = factory
        self._hosts: dict[str, RemoteHost] = {}

    def get(self, alias: str) -> RemoteHost:
        """The host for ``alias``; refuses an alias that is not on the allowlist."""
        self.settings.check_alias(alias)
        if alias not in self._hosts:
            self._hosts[alias] = self._factory(alias, self.settings.ssh_config)
        return self._hosts[alias]

    async def close(self) -> None:
        for alias, host in self._hosts.items():
            try:
                await host.close()
            except JupysshError as exc:
                log.warning("closing %s: %s", alias, exc)
        self._hosts.clear()


def config_aliases(config_file: str | None) -> list[str]:
    """Every alias a ``Host`` line names (no patterns) in ``config_file`` (default
    ``~/.ssh/config``) and the files it includes, in order, each once."""
    path = Path(config_file).expanduser() if config_file else Path.home() / ".ssh" / "config"
    found: dict[str, None] = {}
    _scan(path, found, depth=0)
    return list(found)


def _scan(path: Path, found: dict[str, None], depth: int) -> None:
    if depth > _MAX_INCLUDE_DEPTH:
        return
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            keyword, _, rest = line.strip().replace("=", " ", 1).partition(" ")
            if keyword.lower() == "host":
                for name in _words(rest):
                    if not _WILDCARDS & set(name):
                        found.setdefault(name, None)
            elif keyword.lower() == "include":
                for pattern in _words(rest):
                    _include(pattern, found, depth)


def _include(pattern: str, found: dict[str, None], depth: int) -> None:
    expanded = Path(pattern).expanduser()
    # ssh reads relative Include paths from ~/.ssh (for the user's config).
    full = expanded if expanded.is_absolute() else Path.home() / ".ssh" / expanded
    for match in sorted(glob.glob(str(full))):
        _scan(Path(match), found, depth + 1)


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()
