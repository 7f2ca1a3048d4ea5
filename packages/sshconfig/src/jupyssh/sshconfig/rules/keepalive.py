"""JS3xx — liveness and keepalive: noticing a dead link, and not waiting forever for a live one."""

from __future__ import annotations

from collections.abc import Iterator

from jupyssh.sshconfig.context import CheckContext, HopContext, Make
from jupyssh.sshconfig.findings import Finding, Role, Severity
from jupyssh.sshconfig.rules.registry import hop_rule

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK
#: Longer than this between a link's death and ssh noticing is too long for a service.
SLOW_DETECTION_SECONDS = 600


#: What ssh uses for ServerAliveInterval when BatchMode is yes and none is set.
BATCHMODE_DEFAULT_INTERVAL = 300


def _interval_note(ctx: CheckContext, hop: HopContext, interval: int) -> str:
    implicit = not ctx.scan.sets(hop.host, "serveraliveinterval")
    if implicit and hop.config.batch_mode and interval == BATCHMODE_DEFAULT_INTERVAL:
        return " (ssh's default when BatchMode is yes)"
    return ""


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@hop_rule("JS301", "serveraliveinterval", "ServerAliveInterval is set (ssh probes the link)")
def serveraliveinterval(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    interval = _int(hop.config.get("serveraliveinterval"), 0)
    if interval > 0:
        note = _interval_note(ctx, hop, interval)
        yield make(OK, f"ServerAliveInterval is {interval} s{note}", value=str(interval))
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        "ServerAliveInterval is 0 (ssh's default): a link that dies silently (sleep, Wi-Fi "
        "change, NAT timeout) is never noticed, and the kernel or tunnel hangs",
        value="0",
        fix=f"add `ServerAliveInterval 15` to the `Host {hop.host}` block",
    )


@hop_rule(
    "JS302",
    "serveralivecountmax",
    "ServerAliveInterval x ServerAliveCountMax notices a dead link in time",
)
def serveralivecountmax(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    interval = _int(hop.config.get("serveraliveinterval"), 0)
    if interval <= 0:
        return  # JS301 says it: without probes the count does not matter
    count = _int(hop.config.get("serveralivecountmax"), 3)
    seconds = interval * count
    value = f"{interval} s x {count} = {seconds} s"
    if count == 0 or seconds > SLOW_DETECTION_SECONDS:
        yield make(
            ctx.pick(kernel=INFO, tunnel=WARNING, client=INFO),
            f"a dead link is noticed only after {seconds} s (ServerAliveInterval {interval}"
            f"{_interval_note(ctx, hop, interval)} x ServerAliveCountMax {count}), and a "
            "tunnel is restarted only then",
            value=value,
            fix="`ServerAliveInterval 15` with `ServerAliveCountMax 3` notices within 45 s",
        )
        return
    yield make(OK, f"a dead link is noticed within {seconds} s", value=value)


@hop_rule("JS303", "connecttimeout", "ConnectTimeout bounds the wait for an unreachable host")
def connecttimeout(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = (hop.config.get("connecttimeout") or "none").lower()
    if value != "none":
        yield make(OK, f"ConnectTimeout is {value} s", value=value)
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        "ConnectTimeout is not set: for a host that does not answer, ssh waits for the "
        "system's TCP timeout (about two minutes on Linux)",
        value="none",
        fix=f"add `ConnectTimeout 10` to the `Host {hop.host}` block",
    )


@hop_rule(
    "JS304",
    "exitonforwardfailure",
    "ExitOnForwardFailure makes a tunnel fail loudly when its port is taken",
    roles=(Role.TUNNEL,),
    target_only=True,
)
def exitonforwardfailure(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = (hop.config.get("exitonforwardfailure") or "no").lower()
    if value == "yes":
        yield make(OK, "ExitOnForwardFailure is yes", value=value)
        return
    yield make(
        WARNING,
        "ExitOnForwardFailure is no: when a forward cannot be set up (port in use, refused "
        "by the server) ssh stays connected without it, and autossh or systemd see no failure "
        "to restart",
        value=value,
        fix=f"add `ExitOnForwardFailure yes` to the `Host {hop.host}` block",
    )
