"""JS1xx — host and identity: where ssh connects, as whom, and with which key."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator

from jupyssh.sshconfig.context import CheckContext, HopContext, IdentityCheck, Make
from jupyssh.sshconfig.findings import Finding, Severity
from jupyssh.sshconfig.keys import KeyKind
from jupyssh.sshconfig.rules.registry import hop_rule, produced_rule

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK
#: The server's default MaxAuthTries is 6: an agent offering this many keys risks it.
AGENT_KEYS_LIMIT = 5


@hop_rule("JS101", "hostname-missing", "HostName is set (or the alias is itself a real name)")
def hostname_missing(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    name = hop.config.hostname
    if name.lower() != hop.host.lower():
        yield make(OK, f"HostName is {name}", value=name)
        return
    fix = f"add `HostName <real name or address>` to the `Host {hop.host}` block"
    if not hop.direct:
        yield make(
            INFO,
            f"HostName is not set: the jump host will look up {name!r} itself",
            value=name,
            fix=fix,
        )
    elif hop.resolves is False:
        yield make(
            ERROR,
            f"HostName is not set and {name!r} does not resolve: "
            "ssh will fail with 'Could not resolve hostname'",
            value=name,
            fix=fix,
        )
    else:
        yield make(
            INFO,
            f"HostName is not set: ssh connects to {name!r} as a host name",
            value=name,
            fix=fix + " to make the alias independent of DNS search domains",
        )


@hop_rule("JS102", "hostname-unresolvable", "HostName resolves on this machine")
def hostname_unresolvable(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    name = hop.config.hostname
    if name.lower() == hop.host.lower() or not hop.direct:
        return  # JS101 speaks for an unset HostName; a jump host resolves for itself
    if hop.dns_timed_out:
        yield make(
            WARNING,
            f"HostName {name!r} did not resolve within {ctx.probes.dns_timeout:g} s",
            value=name,
            fix="check DNS (VPN?) or put an address in HostName",
        )
    elif hop.resolves is False:
        yield make(
            ERROR,
            f"HostName {name!r} does not resolve: ssh will fail with 'Could not resolve hostname'",
            value=name,
            fix="fix the spelling, connect the VPN that serves that name, or use an address",
        )
    elif hop.resolves is True:
        yield make(OK, f"HostName {name!r} resolves", value=name)


@hop_rule("JS103", "user-missing", "User is set explicitly")
def user_missing(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    user = hop.config.user or ctx.probes.local_user
    explicit = "@" in hop.spec or ctx.scan.sets(hop.host, "user") or user != ctx.probes.local_user
    if explicit:
        yield make(OK, f"User is {user}", value=user)
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        f"User is not set: ssh logs in as your local name {user!r}",
        value=user,
        fix=f"add `User <remote login>` to the `Host {hop.host}` block "
        "(a service running as another local user would log in under that name)",
    )


def _agent_holds(hop: HopContext, ident: IdentityCheck) -> bool:
    return hop.agent is not None and hop.agent.holds(ident.fingerprint)


def _agent_keys(hop: HopContext) -> int:
    if hop.agent is None or hop.agent.fingerprints is None:
        return 0
    return len(hop.agent.fingerprints)


@hop_rule("JS104", "identity-none", "An IdentityFile is configured (not only ssh's defaults)")
def identity_none(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    if not hop.default_identities:
        names = ", ".join(i.configured for i in hop.identities)
        yield make(OK, f"IdentityFile is set: {names}", value=names)
        return
    found = [i.configured for i in hop.identities if i.key.exists]
    agent = _agent_keys(hop)
    fix = f"add `IdentityFile ~/.ssh/<key>` and `IdentitiesOnly yes` to the `Host {hop.host}` block"
    if not found and not agent:
        yield make(
            ctx.pick(kernel=ERROR, client=WARNING),
            "no IdentityFile is set, no default key exists and no agent holds a key: "
            "ssh has no key to offer",
            value="(defaults)",
            fix=fix + " (create one with `ssh-keygen -t ed25519`)",
        )
        return
    offered = ", ".join(found) or "none on disk"
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        f"no IdentityFile is set: ssh offers its default keys ({offered}) "
        f"and the agent's ({agent}) one after another",
        value="(defaults)",
        fix=fix,
    )


def _explicit(hop: HopContext) -> list[IdentityCheck]:
    return [] if hop.default_identities else hop.identities


@hop_rule("JS105", "identity-not-found", "Every IdentityFile exists")
def identity_not_found(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    idents = _explicit(hop)
    missing = [i for i in idents if not i.key.exists]
    none_left = bool(idents) and len(missing) == len(idents)
    for ident in missing:
        shown = (
            ident.configured
            if ident.configured == ident.path
            else (f"{ident.configured} ({ident.path})")
        )
        yield make(
            ctx.pick(kernel=ERROR, client=WARNING) if none_left else WARNING,
            f"IdentityFile {shown} does not exist: ssh skips it without a word",
            value=ident.path,
            fix="fix the path, or create the key with `ssh-keygen -t ed25519 -f "
            f"{shlex.quote(ident.path)}`",
        )
    if idents and not missing:
        yield make(OK, "every IdentityFile exists", value=str(len(idents)))


@hop_rule("JS106", "identity-unreadable", "Every IdentityFile is a readable file")
def identity_unreadable(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    for ident in hop.identities:
        if ident.key.exists and not ident.key.readable:
            yield make(
                ctx.pick(kernel=ERROR, client=WARNING),
                f"IdentityFile {ident.path} cannot be read ({ident.key.read_error})",
                value=ident.path,
                fix="point IdentityFile at a key file you own: "
                f"`chmod 600 {shlex.quote(ident.path)}`",
            )


@hop_rule("JS107", "identity-public", "IdentityFile names a private key, not a .pub")
def identity_public(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    for ident in hop.identities:
        kind = ident.key.kind
        if not ident.key.readable or kind.is_private:
            continue
        if kind is KeyKind.PUBLIC and _agent_holds(hop, ident):
            yield make(
                INFO,
                f"IdentityFile {ident.path} is a public key; the agent holds its private half",
                value=ident.path,
            )
            continue
        private = ident.path[:-4] if ident.path.endswith(".pub") else None
        hint = (
            f"use `IdentityFile {private}`"
            if private and os.path.isfile(private)
            else "point IdentityFile at the private key (the file without .pub)"
        )
        what = (
            "a public key" if kind is KeyKind.PUBLIC else f"not a key OpenSSH reads ({kind.value})"
        )
        yield make(
            ctx.pick(kernel=ERROR, client=WARNING),
            f"IdentityFile {ident.path} is {what}, where the private key belongs",
            value=ident.path,
            fix=hint
            if kind is KeyKind.PUBLIC
            else "convert it with `puttygen` or point at an OpenSSH key",
        )


@hop_rule("JS108", "identity-permissions", "Private keys are readable by their owner only")
def identity_permissions(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    for ident in hop.identities:
        key = ident.key
        if not key.readable or not key.kind.is_private or key.mode is None:
            continue
        mode = f"{key.mode & 0o777:04o}"
        if key.too_open:
            yield make(
                ERROR,
                f"IdentityFile {ident.path} has mode {mode}: ssh refuses it "
                "('UNPROTECTED PRIVATE KEY FILE') and offers nothing",
                value=mode,
                fix=f"chmod 600 {shlex.quote(ident.path)}",
            )
        else:
            yield make(OK, f"IdentityFile {ident.path} has mode {mode}", value=mode)


@hop_rule("JS109", "identity-passphrase", "A passphrase-protected key is loaded in the agent")
def identity_passphrase(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    for ident in hop.identities:
        if not ident.key.readable or ident.key.encrypted is not True:
            continue
        if _agent_holds(hop, ident):
            yield make(
                OK,
                f"IdentityFile {ident.path} is passphrase-protected and loaded in the agent",
                value="in agent",
            )
            continue
        if ident.fingerprint is None and _agent_keys(hop):
            message = (
                f"IdentityFile {ident.path} is passphrase-protected; without its .pub its "
                "fingerprint is unknown, so whether the agent holds it cannot be told"
            )
            severity = WARNING
        else:
            reason = (
                hop.agent.error if hop.agent and hop.agent.error else "the agent does not hold it"
            )
            message = (
                f"IdentityFile {ident.path} is passphrase-protected and {reason}: "
                "in BatchMode ssh cannot ask for the passphrase"
            )
            severity = ctx.pick(kernel=ERROR, client=WARNING)
        yield make(
            severity,
            message,
            value="encrypted",
            fix=f"load it once per login with `ssh-add {shlex.quote(ident.path)}` "
            "(or `AddKeysToAgent yes`)",
        )


@hop_rule("JS110", "batchmode", "BatchMode is yes (ssh fails instead of prompting)")
def batchmode(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    if hop.config.batch_mode:
        yield make(OK, "BatchMode is yes", value="yes")
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        "BatchMode is not yes: ssh may stop to ask for a password, a passphrase or a "
        "new host key, and a background kernel or tunnel would hang there",
        value=hop.config.get("batchmode") or "no",
        fix=f"add `BatchMode yes` to the `Host {hop.host}` block (jupyssh passes it "
        f"anyway; with it, `ssh {hop.spec}` fails the way jupyssh would)",
    )


# ssh options that take an argument (ssh(1) synopsis): skipped when looking for the host.
_SSH_ARG_OPTIONS = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
_NC_PROGRAMS = frozenset({"nc", "ncat", "netcat"})


def _jump_from_ssh(words: list[str]) -> str | None:
    """``ssh -p 2200 -l u -W %h:%p bastion`` → ``u@bastion:2200`` (None if not that shape)."""
    user = port = host = None
    forwards_stdio = False
    rest: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word.startswith("-") and len(word) > 1 and not rest:
            letter = word[1]
            value = word[2:] or (words[i + 1] if i + 1 < len(words) else "")
            if letter in _SSH_ARG_OPTIONS:
                i += 1 if word[2:] else 2
                user = value if letter == "l" else user
                port = value if letter == "p" else port
                forwards_stdio = forwards_stdio or letter == "W"
                continue
            i += 1
            continue
        if host is None:
            host = word
        else:
            rest.append(word)
        i += 1
    netcat = bool(rest) and os.path.basename(rest[0]) in _NC_PROGRAMS
    if host is None or not (forwards_stdio or netcat):
        return None
    spec = f"{user}@{host}" if user and "@" not in host else host
    return f"{spec}:{port}" if port else spec


@hop_rule("JS111", "proxycommand", "ProxyJump is used where it can replace ProxyCommand")
def proxycommand(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    command = hop.config.proxy_command
    if command is None:
        return
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    jump = _jump_from_ssh(words) if words and os.path.basename(words[0]) == "ssh" else None
    if jump is None:
        yield make(
            INFO,
            "ProxyCommand is set; ProxyJump cannot replace this one",
            value=command,
        )
        return
    yield make(
        WARNING,
        "ProxyCommand runs ssh through a jump host, which ProxyJump does natively "
        "(with its own checks, agent-free, and visible to `ssh -G`)",
        value=command,
        fix=f"replace the ProxyCommand line with `ProxyJump {jump}`",
    )


produced_rule(
    "JS112",
    "proxyjump-chain",
    "The ProxyJump chain can be followed (no loop, every entry parses)",
)


@hop_rule("JS113", "agent-too-many-keys", "The agent does not offer more keys than servers allow")
def agent_too_many_keys(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    count = _agent_keys(hop)
    only = (hop.config.get("identitiesonly") or "no").lower() == "yes"
    if count >= AGENT_KEYS_LIMIT and not only:
        yield make(
            WARNING,
            f"the agent holds {count} keys and IdentitiesOnly is no: ssh offers them all "
            "first, and servers close at 6 attempts ('Too many authentication failures')",
            value=str(count),
            fix="add `IdentitiesOnly yes` (with the right IdentityFile) "
            f"to the `Host {hop.host}` block",
        )
