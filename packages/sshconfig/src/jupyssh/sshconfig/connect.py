"""``--connect``: try each hop for real, in BatchMode, and name the cause of a failure.

Hops are tried first to last, each on a fresh connection (``ControlPath=none``, so an
existing master cannot hide a broken login): a hop behind a jump host is reached with
that hop's own ProxyJump list, exactly as ssh would reach it in the chain. The first
failure stops the walk (the hops behind it cannot be reached either). Then, for the
kernel role, a control master is started for the alias (unless one runs), checked with
``ssh -O check``, and stopped again if this check started it.
"""

from __future__ import annotations

import dataclasses
import time

from jupyssh.core.errors import JupysshError
from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.sshconfig.context import CheckContext, HopContext, finding_for
from jupyssh.sshconfig.findings import ConnectResult, Finding, HopSummary, Role, Severity
from jupyssh.sshconfig.rules.control import uses_master

__all__ = ["destination_for", "probe_route"]

#: What each typed error means for a hop, in a user's words.
CAUSES: dict[str, str] = {
    "name-resolution": "the host name does not resolve",
    "connection-refused": "nothing listens on that port (connection refused)",
    "connect-timeout": "the host did not answer in time",
    "timeout": "ssh did not finish in time",
    "authentication": "the server refused every key offered (authentication)",
    "host-key-unknown": "the host key is not in known_hosts (BatchMode cannot ask)",
    "host-key-changed": "the host key differs from the one in known_hosts",
    "connect": "the connection failed",
    "ssh": "ssh failed",
    "config": "ssh refused the configuration",
}


def destination_for(hop: HopContext) -> str:
    """What to give ssh on its command line to reach this hop alone."""
    return hop.hop.destination


def _options(hop: HopContext) -> dict[str, str]:
    # Only hops behind a jump get ProxyJump: setting it (even to none) for the first hop
    # would make ssh ignore that hop's own ProxyCommand.
    return {"ProxyJump": ",".join(str(j) for j in hop.hop.via)} if hop.hop.via else {}


async def _login(ctx: CheckContext, hop: HopContext, timeout: float) -> ConnectResult:
    started = time.perf_counter()
    host = AsyncSSHHost(
        destination_for(hop),
        config_file=ctx.config_file,
        connect_timeout=timeout,
        control_path="none",
        options=_options(hop),
    )
    try:
        await host.run(["true"], timeout=timeout * (len(hop.hop.via) + 1) + 5, check=False)
    except JupysshError as error:
        return ConnectResult(
            ok=False,
            seconds=time.perf_counter() - started,
            cause=error.kind,
            message=_describe(error),
        )
    return ConnectResult(ok=True, seconds=time.perf_counter() - started)


def _describe(error: JupysshError) -> str:
    said = getattr(error, "stderr", "") or ""
    text = CAUSES.get(error.kind, error.message)
    return f"{text}: {said}" if said and said not in text else text


def _hint(kind: str | None) -> str:
    hints = {
        "name-resolution": "check HostName (spelling, VPN, DNS); through a jump host the name "
        "must resolve there",
        "connection-refused": "check Port, and that sshd runs on the host",
        "connect-timeout": "check the host is up and reachable (VPN, firewall), or raise "
        "ConnectTimeout",
        "timeout": "check the route to the host, or raise --timeout",
        "authentication": "check User and IdentityFile, that the public key is in the host's "
        "~/.ssh/authorized_keys, and that a passphrase-protected key is in the agent",
        "host-key-unknown": "connect once with plain ssh and check the fingerprint, or use "
        "`StrictHostKeyChecking accept-new`",
        "host-key-changed": "if the host was reinstalled, `ssh-keygen -R HOST` and verify the "
        "new fingerprint out of band; otherwise do not connect",
    }
    return hints.get(kind or "", "run `ssh -vvv` to the hop to see ssh's own log")


def _connect_finding(hop: HopContext, result: ConnectResult) -> Finding:
    make = finding_for(hop, "JS601")
    seconds = f"{result.seconds:.2f} s" if result.seconds is not None else "-"
    if result.ok:
        return make(Severity.OK, f"logged in (BatchMode) in {seconds}", value=seconds)
    return make(
        Severity.ERROR,
        f"cannot log in: {result.message}",
        value=result.cause,
        fix=_hint(result.cause),
    )


async def _master(ctx: CheckContext, hop: HopContext, timeout: float) -> Finding | None:
    make = finding_for(hop, "JS602")
    if ctx.role is Role.TUNNEL:
        return None
    if ctx.role is Role.CLIENT and not uses_master(hop.config):
        return None
    async with AsyncSSHHost(
        destination_for(hop),
        config_file=ctx.config_file,
        connect_timeout=timeout,
        # Already resolved; None lets jupyssh use its own runtime folder, as a launch would.
        control_path=hop.config.control_path,
        options=_options(hop),
    ) as host:
        try:
            running = await host.master_pid()
            if ctx.role is Role.CLIENT:
                state = f"running (pid {running})" if running else "not running now"
                return make(Severity.INFO, f"control master {state}", value=str(running))
            pid = running or await host.start_master()
            answered = await host.master_pid()
        except JupysshError as error:
            return make(
                Severity.ERROR,
                f"the control master did not start or answer: {error}",
                value=error.kind,
                fix=error.hint or "check ControlPath (folder, length) and ControlMaster",
            )
        if answered is None:
            return make(
                Severity.ERROR,
                "the control master started but does not answer `ssh -O check`",
                value=await host.control_path(),
                fix="check that the ControlPath folder is writable and the path is short",
            )
        how = "already running" if running else "started and stopped again by this check"
        return make(
            Severity.OK,
            f"control master answers `ssh -O check` (pid {pid}, {how})",
            value=str(pid),
        )


async def probe_route(
    ctx: CheckContext, hops: tuple[HopSummary, ...], *, timeout: float = 10.0
) -> tuple[list[Finding], tuple[HopSummary, ...]]:
    """Try every hop in order; return the JS6xx findings and the hops with their results."""
    findings: list[Finding] = []
    updated = list(hops)
    failed: HopContext | None = None
    for position, hop in enumerate(ctx.hops):
        if failed is not None:
            result = ConnectResult(
                ok=False, seconds=None, tried=False, message=f"hop {failed.index} failed"
            )
            findings.append(_skipped(hop, failed))
        else:
            result = await _login(ctx, hop, timeout)
            findings.append(_connect_finding(hop, result))
            failed = None if result.ok else hop
        updated[position] = dataclasses.replace(updated[position], connect=result)
    target = ctx.target
    if failed is None and target is not None:
        master = await _master(ctx, target, timeout)
        findings += [master] if master is not None else []
    return findings, tuple(updated)


def _skipped(hop: HopContext, failed: HopContext) -> Finding:
    make = finding_for(hop, "JS603")
    return make(
        Severity.INFO,
        f"not tried: hop {failed.index} ({failed.spec}) failed, and this hop is reached through it",
        value=failed.spec,
    )
