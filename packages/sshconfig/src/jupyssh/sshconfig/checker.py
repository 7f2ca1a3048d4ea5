"""``check``: resolve an alias hop by hop, run every rule, optionally connect for real.

The cost is one ``ssh -G`` per distinct hop (the :class:`~jupyssh.core.ssh.Resolver`
caches), plus one per other alias that shares a wildcard ``Host`` line with the checked
one when a ControlPath is in use (to compare sockets); the rules themselves run nothing.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from jupyssh.core.errors import ConfigError
from jupyssh.core.ssh import Hop, Resolver
from jupyssh.sshconfig.configfile import ConfigScan, scan_config
from jupyssh.sshconfig.context import CheckContext, HopContext, Probes, finding_for, gather
from jupyssh.sshconfig.findings import (
    Finding,
    HopSummary,
    Report,
    Role,
    Severity,
    sort_findings,
)
from jupyssh.sshconfig.rules import named, run_rules

__all__ = ["check", "check_async"]

_FILE_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")
_UNROUTABLE = frozenset({"JS112", "JS501", "JS507"})


@dataclass
class _Route:
    hops: list[Hop]
    problems: list[Finding]
    #: ssh refused a config file for its owner or mode; the JS502 rule names the file.
    bad_owner: ConfigError | None = None


def _resolution_finding(error: ConfigError, alias: str) -> Finding | None:
    """The finding for an ``ssh -G`` or chain failure (None: a config rule will say it)."""
    message = error.message
    if "ProxyJump" in message:
        return finding_for(None, "JS112")(
            Severity.ERROR,
            message,
            value=message.split(": ", 1)[-1],
            where=error.where,
            fix=error.hint
            or "fix the ProxyJump lines so the chain ends at a host reached directly",
        )
    if "Bad owner or permissions" in message:
        return None
    if "Can't open user config file" in message:
        return finding_for(None, "JS507")(
            Severity.ERROR,
            f"ssh cannot open the config file: {message.split(': ', 1)[-1]}",
            value=error.where,
            where=error.where,
            fix="check the -F path, or create the file",
        )
    where = error.where if error.where and _FILE_LINE.match(error.where) else None
    return finding_for(None, "JS501")(
        Severity.ERROR,
        message,
        value=message.rsplit(": ", 1)[-1] if ": " in message else alias,
        where=where or error.where,
        fix=error.hint or "fix or remove that line (`man ssh_config` lists the keywords)",
    )


async def _route(alias: str, resolver: Resolver) -> _Route:
    try:
        return _Route(await resolver.chain(alias), [])
    except ConfigError as error:
        problem = _resolution_finding(error, alias)
        if problem is None:
            return _Route([], [], bad_owner=error)
        if problem.code != "JS112":
            return _Route([], [named(problem)])
        # A broken chain: the alias itself still resolved (and is cached), so the rules
        # can still look at it.
        return _Route([Hop(alias, await resolver.resolve(alias))], [named(problem)])


def _bad_owner(error: ConfigError) -> Finding:
    return named(
        finding_for(None, "JS502")(
            Severity.ERROR,
            error.message,
            where=error.where,
            fix="make the config file yours and not writable by others: chmod 600 FILE",
        )
    )


def _summaries(ctx: CheckContext) -> tuple[HopSummary, ...]:
    return tuple(_summary(hop) for hop in ctx.hops)


def _summary(hop: HopContext) -> HopSummary:
    config = hop.config
    return HopSummary(
        index=hop.index,
        spec=hop.spec,
        hostname=config.hostname,
        user=config.user,
        port=config.port,
        via=tuple(str(j) for j in hop.hop.via),
        proxy_command=config.proxy_command,
        control_path=config.control_path,
    )


def _has_bad_owner_error(findings: list[Finding]) -> bool:
    return any(f.code == "JS502" and f.severity is Severity.ERROR for f in findings)


async def check_async(
    alias: str,
    role: Role | str = Role.CLIENT,
    connect: bool = False,
    config: str | None = None,
    *,
    resolver: Resolver | None = None,
    probes: Probes | None = None,
    connect_timeout: float = 10.0,
) -> Report:
    """Check ``alias`` for ``role`` and return a :class:`Report`; never raises for a bad config.

    ``config`` is an ssh config file (as ``ssh -F``); None reads ssh's defaults. With
    ``connect``, each hop is also tried for real in BatchMode and, for the kernel role, a
    control master is started, checked and stopped again. ``resolver`` may be shared
    with later work (its ``ssh -G`` answers are cached); ``probes`` replace DNS, agent and
    fingerprint lookups (tests).
    """
    started = time.perf_counter()
    role = Role(role)
    resolver = resolver or Resolver(config)
    probes = probes or Probes()
    runs_before = resolver.runs
    scan: ConfigScan = scan_config(config, home=probes.home)
    route = await _route(alias, resolver)
    ctx = await gather(
        alias,
        role=role,
        config_file=config,
        hops=route.hops,
        scan=scan,
        probes=probes,
        resolver=resolver,
    )
    findings = [*route.problems, *run_rules(ctx)]
    if route.bad_owner is not None and not _has_bad_owner_error(findings):
        findings.append(_bad_owner(route.bad_owner))
    hops = _summaries(ctx)
    connected = False
    # A route ssh cannot follow (a refused config, a ProxyJump loop) is not tried for real.
    if connect and ctx.hops and not any(f.code in _UNROUTABLE for f in findings):
        from jupyssh.sshconfig.connect import probe_route  # noqa: PLC0415 - optional path

        live, hops = await probe_route(ctx, hops, timeout=connect_timeout)
        findings += [named(f) for f in live]
        connected = True
    order: dict[str | None, int] = {None: 0, **{h.spec: h.index for h in hops}}
    return Report(
        alias=alias,
        role=role,
        config_file=config,
        hops=hops,
        findings=tuple(sort_findings(findings, order)),
        connected=connected,
        ssh_g_runs=resolver.runs - runs_before,
        elapsed_seconds=time.perf_counter() - started,
    )


def check(
    alias: str,
    role: Role | str = Role.CLIENT,
    connect: bool = False,
    config: str | None = None,
    *,
    probes: Probes | None = None,
    connect_timeout: float = 10.0,
) -> Report:
    """The blocking twin of :func:`check_async` (runs its own event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(
            check_async(
                alias,
                role,
                connect,
                config,
                probes=probes,
                connect_timeout=connect_timeout,
            )
        )
    raise RuntimeError("check() blocks; inside a running event loop use check_async()")
