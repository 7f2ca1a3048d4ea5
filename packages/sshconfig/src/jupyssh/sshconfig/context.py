"""Everything the rules look at, gathered once before any rule runs.

Rules are plain functions of a :class:`CheckContext`: they never run a program and never
touch the network. The slow or outside-world facts (``ssh -G`` per hop, DNS for hops ssh
reaches directly, key files, fingerprints, the agent's keys, the aliases that share a
wildcard with the checked one) are collected here, once each, by :func:`gather`.
The :class:`Probes` say how to look at the outside world; tests replace them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import pwd
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from jupyssh.core.errors import JupysshError
from jupyssh.core.ssh import Hop, HostConfig, Resolver
from jupyssh.sshconfig.configfile import ConfigScan, user_home
from jupyssh.sshconfig.findings import Finding, Role, Severity
from jupyssh.sshconfig.keys import (
    AgentState,
    KeyFile,
    KeyKind,
    agent_fingerprints,
    agent_socket,
    expand_path,
    inspect_key,
    key_fingerprint,
    local_tokens,
)
from jupyssh.sshconfig.patterns import host_line_matches

__all__ = [
    "DEFAULT_IDENTITY_FILES",
    "CheckContext",
    "HopContext",
    "IdentityCheck",
    "Make",
    "Probes",
    "finding_for",
    "gather",
    "is_ip_literal",
    "resolves_with_getaddrinfo",
]

log = logging.getLogger(__name__)

#: The identity files ssh tries when none is configured (``ssh -G`` lists them then).
DEFAULT_IDENTITY_FILES = frozenset(
    f"~/.ssh/{name}"
    for name in (
        "id_rsa",
        "id_ecdsa",
        "id_ecdsa_sk",
        "id_ed25519",
        "id_ed25519_sk",
        "id_xmss",
        "id_dsa",
    )
)
#: Most aliases compared with the checked one for a shared ControlPath.
MAX_COMPARED_ALIASES = 64
_PARALLEL_SSH_G = 8


def resolves_with_getaddrinfo(name: str) -> bool:
    """Whether the local resolver knows ``name`` (the default DNS probe)."""
    try:
        socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return True


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _local_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # pragma: no cover - a uid without a passwd entry
        return str(os.getuid())


@dataclass
class Probes:
    """How a check looks at the world outside ssh's config; every field can be replaced.

    ``resolve_name`` answers "does this host name resolve here?" (blocking; it runs in a
    daemon thread and is abandoned after ``dns_timeout`` seconds). ``agent`` lists an
    agent's fingerprints; ``fingerprint`` gives a key file's.
    """

    resolve_name: Callable[[str], bool] = resolves_with_getaddrinfo
    dns_timeout: float = 2.0
    home: Path = field(default_factory=user_home)
    local_user: str = field(default_factory=_local_user)
    agent: Callable[[str | None], Awaitable[AgentState]] = agent_fingerprints
    fingerprint: Callable[[str], Awaitable[str | None]] = key_fingerprint


@dataclass(frozen=True)
class IdentityCheck:
    """One IdentityFile of a hop: as configured, as expanded, and what is on disk."""

    configured: str
    path: str
    key: KeyFile
    is_default: bool
    fingerprint: str | None = None


@dataclass
class HopContext:
    """One hop and the facts gathered for it."""

    index: int
    hop: Hop
    #: The host name part of the hop's spec, as typed (what ssh matches Host lines with).
    host: str
    is_target: bool
    #: True when this machine connects to the hop itself (no ProxyJump, no ProxyCommand).
    direct: bool
    identities: list[IdentityCheck] = field(default_factory=list)
    #: True when no IdentityFile is configured and ssh falls back to its default list.
    default_identities: bool = False
    agent: AgentState | None = None
    #: True/False when ``hostname`` was looked up locally; None when not or timed out.
    resolves: bool | None = None
    dns_timed_out: bool = False

    @property
    def config(self) -> HostConfig:
        return self.hop.config

    @property
    def spec(self) -> str:
        return self.hop.spec


@dataclass
class CheckContext:
    """What one check knows; the rules read it and return findings."""

    alias: str
    role: Role
    config_file: str | None
    scan: ConfigScan
    probes: Probes
    hops: list[HopContext]
    #: Other aliases that share a wildcard Host line with the target, resolved by ssh -G.
    neighbours: dict[str, HostConfig] = field(default_factory=dict)
    neighbours_truncated: bool = False

    @property
    def target(self) -> HopContext | None:
        return self.hops[-1] if self.hops else None

    def pick(
        self,
        *,
        kernel: Severity,
        tunnel: Severity | None = None,
        client: Severity | None = None,
    ) -> Severity:
        """The severity for the current role (tunnel and client default to kernel's)."""
        if self.role is Role.TUNNEL:
            return tunnel or kernel
        if self.role is Role.CLIENT:
            return client or kernel
        return kernel


def _host_of(spec: str) -> str:
    """``user@host:port`` → ``host`` (what ssh matches Host patterns against)."""
    host = spec.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _tokens(config: HostConfig, probes: Probes, host: str) -> dict[str, str]:
    tokens = local_tokens(probes.home, probes.local_user)
    tokens.update(
        {
            "h": config.hostname,
            "n": host,
            "p": str(config.port),
            "r": config.user or probes.local_user,
            "k": config.get("hostkeyalias") or host,
        }
    )
    return tokens


def _identities(hop: HopContext, scan: ConfigScan, probes: Probes) -> None:
    configured = hop.config.identity_files
    explicit = scan.sets(hop.host, "identityfile") or not set(configured) <= (
        DEFAULT_IDENTITY_FILES
    )
    hop.default_identities = not explicit
    tokens = _tokens(hop.config, probes, hop.host)
    for value in configured:
        path = expand_path(value, tokens, probes.home)
        hop.identities.append(IdentityCheck(value, path, inspect_key(path), not explicit))


async def _fingerprints(hop: HopContext, probes: Probes) -> None:
    wanted = [
        (i, ident)
        for i, ident in enumerate(hop.identities)
        if ident.key.readable and (ident.key.encrypted or ident.key.kind is KeyKind.PUBLIC)
    ]
    for i, ident in wanted:
        fingerprint = await probes.fingerprint(ident.path)
        hop.identities[i] = IdentityCheck(
            ident.configured, ident.path, ident.key, ident.is_default, fingerprint
        )


async def _bounded_resolve(probes: Probes, name: str) -> bool | None:
    """Run the blocking DNS probe in a daemon thread; None when it outlives the timeout."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def settle(answer: bool | BaseException) -> None:
        if future.done():
            return
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)

    def work() -> None:
        try:
            answer: bool | BaseException = bool(probes.resolve_name(name))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting coroutine
            answer = exc
        # The check may be long over (and its loop closed) when a slow lookup returns.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, answer)

    threading.Thread(target=work, name=f"resolve {name}", daemon=True).start()
    try:
        return await asyncio.wait_for(future, probes.dns_timeout)
    except asyncio.TimeoutError:
        return None


async def _dns(hop: HopContext, probes: Probes) -> None:
    name = hop.config.hostname
    if not hop.direct or is_ip_literal(name):
        return
    hop.resolves = await _bounded_resolve(probes, name)
    hop.dns_timed_out = hop.resolves is None


def _candidates(alias: str, scan: ConfigScan) -> list[str]:
    """Aliases a wildcard Host line gives settings to together with ``alias``."""
    aliases = [a for a in scan.aliases() if a != alias]
    if scan.has_match_setting("controlpath"):
        return aliases
    shared: dict[str, None] = {}
    for block in scan.host_blocks():
        if block.is_wildcard and block.applies(alias) is not False:
            for other in aliases:
                if host_line_matches(other, block.patterns):
                    shared.setdefault(other, None)
    return list(shared)


async def _neighbours(ctx: CheckContext, resolver: Resolver) -> None:
    target = ctx.target
    if target is None or target.config.control_path is None:
        return
    names = _candidates(ctx.alias, ctx.scan)
    if len(names) > MAX_COMPARED_ALIASES:
        names, ctx.neighbours_truncated = names[:MAX_COMPARED_ALIASES], True
    gate = asyncio.Semaphore(_PARALLEL_SSH_G)

    async def one(name: str) -> tuple[str, HostConfig | None]:
        async with gate:
            try:
                return name, await resolver.resolve(name)
            except JupysshError as exc:
                log.debug("cannot resolve %s for the ControlPath comparison: %s", name, exc)
                return name, None

    for name, config in await asyncio.gather(*(one(n) for n in names)):
        if config is not None:
            ctx.neighbours[name] = config


async def gather(
    alias: str,
    *,
    role: Role,
    config_file: str | None,
    hops: list[Hop],
    scan: ConfigScan,
    probes: Probes,
    resolver: Resolver,
) -> CheckContext:
    """Collect every fact the rules need: once per hop, agent and alias."""
    contexts: list[HopContext] = []
    for index, hop in enumerate(hops, start=1):
        host = _host_of(hop.spec) if index < len(hops) else alias.rsplit("@", 1)[-1]
        direct = not hop.via and hop.config.proxy_command is None
        contexts.append(HopContext(index, hop, host, index == len(hops), direct))
    ctx = CheckContext(alias, role, config_file, scan, probes, contexts)
    agents: dict[str | None, AgentState] = {}
    for hop_ctx in contexts:
        _identities(hop_ctx, scan, probes)
        sock = agent_socket(hop_ctx.config.get("identityagent"), probes.home)
        if sock not in agents:
            agents[sock] = await probes.agent(sock)
        hop_ctx.agent = agents[sock]
    await asyncio.gather(
        *(_fingerprints(h, probes) for h in contexts),
        *(_dns(h, probes) for h in contexts),
        _neighbours(ctx, resolver),
    )
    return ctx


class Make(Protocol):
    """Makes a finding of one rule for one hop (or for the whole config)."""

    def __call__(
        self,
        severity: Severity,
        message: str,
        *,
        value: str | None = None,
        fix: str = "",
        where: str | None = None,
    ) -> Finding: ...


def finding_for(hop: HopContext | None, code: str) -> Make:
    """A ``Finding`` maker with the rule's code and the hop filled in.

    The registry hands each rule its own, so a rule names its code once, in its decorator.
    The rule's name is filled in by the registry when the rule's findings are collected.
    """

    def make(
        severity: Severity,
        message: str,
        *,
        value: str | None = None,
        fix: str = "",
        where: str | None = None,
    ) -> Finding:
        return Finding(
            code=code,
            severity=severity,
            message=message,
            hop=hop.spec if hop is not None else None,
            value=value,
            fix="" if severity is Severity.OK else fix,
            where=where,
        )

    return make
