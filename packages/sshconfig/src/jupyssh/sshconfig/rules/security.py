"""JS4xx — security: host keys are checked, and the agent stays home."""

from __future__ import annotations

from collections.abc import Iterator

from jupyssh.sshconfig.context import CheckContext, HopContext, Make
from jupyssh.sshconfig.findings import Finding, Role, Severity
from jupyssh.sshconfig.rules.registry import hop_rule

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK


@hop_rule("JS401", "stricthostkeychecking", "StrictHostKeyChecking is not turned off")
def stricthostkeychecking(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = (hop.config.get("stricthostkeychecking") or "ask").lower()
    if value in ("false", "no", "off"):
        yield make(
            WARNING,
            "StrictHostKeyChecking is off: ssh accepts any host key, even a changed one, "
            "so a machine in the middle can read the session (and your kernel's traffic)",
            value=value,
            fix="use `StrictHostKeyChecking accept-new` (trusts a host the first time, refuses "
            "a changed key) and keep UserKnownHostsFile a real file",
        )
    elif value == "ask" and ctx.role is not Role.CLIENT:
        yield make(
            INFO,
            "StrictHostKeyChecking is ask: in BatchMode a host whose key is not yet in "
            "known_hosts is refused",
            value=value,
            fix=f"connect once with `ssh {hop.spec}` and check the fingerprint, or use "
            "`StrictHostKeyChecking accept-new`",
        )
    else:
        yield make(OK, f"StrictHostKeyChecking is {value}", value=value)


@hop_rule("JS402", "known-hosts-devnull", "Host keys are remembered in a real known_hosts file")
def known_hosts_devnull(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    files = hop.config.get_all("userknownhostsfile")
    words = " ".join(files).split()
    if "/dev/null" in words:
        yield make(
            WARNING,
            "UserKnownHostsFile is /dev/null: no host key is ever remembered, so every "
            "connection trusts whatever key the server shows",
            value=" ".join(files),
            fix="remove the UserKnownHostsFile line (ssh uses ~/.ssh/known_hosts)",
        )


@hop_rule("JS403", "forwardagent", "The agent is not forwarded to the host")
def forwardagent(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = (hop.config.get("forwardagent") or "no").lower()
    if value in ("no", "false"):
        return
    yield make(
        WARNING,
        "ForwardAgent is on: anyone with root on that host can use your keys while you are "
        "connected; reaching further hosts does not need it",
        value=value,
        fix="remove ForwardAgent and reach further hosts with `ProxyJump`",
    )
