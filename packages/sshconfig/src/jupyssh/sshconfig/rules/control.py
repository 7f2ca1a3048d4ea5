"""JS2xx — the control master: one shared, authenticated connection per alias.

A kernel needs it (every round trip and port forward rides one login); a persistent
tunnel must not depend on it (a master that dies takes every session with it).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator

from jupyssh.core.ssh import HostConfig
from jupyssh.sshconfig.context import CheckContext, HopContext, Make
from jupyssh.sshconfig.findings import Finding, Role, Severity
from jupyssh.sshconfig.rules.registry import hop_rule

__all__ = [
    "CLIENT_CONTROL_PATH",
    "MAX_CONTROL_PATH",
    "PORTABLE_MAX_CONTROL_PATH",
    "SUGGESTED_CONTROL_PATH",
    "control_path_limit",
    "uses_master",
]

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK

#: mux.c binds the master's socket as ``<ControlPath>.<16 random characters>`` and then
#: renames it into place, so the path must leave room for those 17 bytes and the NUL
#: inside ``sun_path`` (108 bytes on Linux, 104 on macOS and the BSDs).
MUX_TEMP_SUFFIX = 17
_SUN_PATH = 108 if sys.platform.startswith("linux") else 104
MAX_CONTROL_PATH = _SUN_PATH - 1 - MUX_TEMP_SUFFIX
#: The limit on macOS and the BSDs, for configs shared between machines.
PORTABLE_MAX_CONTROL_PATH = 104 - 1 - MUX_TEMP_SUFFIX
_HASH = re.compile(r"[0-9a-f]{40}")
#: What the fixes and ``suggest`` propose: %C hashes host, port and user (newer OpenSSH
#: releases the ProxyJump too); the ``kernel-`` prefix keeps a kernel alias off the master that a
#: plain alias to the same host may have opened with ``cm-%C``.
SUGGESTED_CONTROL_PATH = "~/.ssh/cm-kernel-%C"
CLIENT_CONTROL_PATH = "~/.ssh/cm-%C"


def control_path_limit() -> int:
    return MAX_CONTROL_PATH


def uses_master(config: HostConfig) -> bool:
    """Whether ssh would try to become a master (ControlMaster yes/auto/ask/autoask)."""
    return config.control_master.lower() not in ("false", "no") and config.control_path is not None


def _block(hop: HopContext) -> str:
    return f"the `Host {hop.host}` block"


@hop_rule(
    "JS201",
    "controlmaster",
    "ControlMaster is auto (a kernel alias shares one master)",
    roles=(Role.KERNEL,),
    target_only=True,
)
def controlmaster(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = hop.config.control_master.lower()
    if value == "auto":
        yield make(OK, "ControlMaster is auto", value=value)
        return
    why = {
        "false": "no master is ever started, so every command logs in again",
        "true": "every ssh to the alias tries to become the master and fails if one runs",
        "ask": "ssh asks before each use of the master, which BatchMode refuses",
        "autoask": "ssh asks before each use of the master, which BatchMode refuses",
    }.get(value, "ssh will not share one master")
    yield make(
        ERROR,
        f"ControlMaster is {value}: {why}",
        value=value,
        fix=f"set `ControlMaster auto` in {_block(hop)}",
    )


@hop_rule(
    "JS202",
    "controlpath-none",
    "ControlPath is set (the master has a socket)",
    roles=(Role.KERNEL,),
    target_only=True,
)
def controlpath_none(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    if path is not None:
        yield make(OK, f"ControlPath is {path}", value=path)
        return
    yield make(
        ERROR,
        "ControlPath is not set: there is no socket for a master, so ssh cannot share one",
        value="none",
        fix=f"set `ControlPath {SUGGESTED_CONTROL_PATH}` in {_block(hop)}",
    )


def _unique(hop: HopContext, raw: str | None) -> bool:
    if raw is not None:
        return "%C" in raw or all(token in raw for token in ("%h", "%p", "%r"))
    path = hop.config.control_path or ""
    config = hop.config
    parts = (config.hostname, str(config.port), config.user or "")
    return bool(_HASH.search(path)) or all(part and part in path for part in parts)


@hop_rule(
    "JS203",
    "controlpath-tokens",
    "ControlPath names one socket per destination (%C, or %r, %h and %p)",
    roles=(Role.KERNEL, Role.CLIENT),
    target_only=True,
)
def controlpath_tokens(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    if path is None or (ctx.role is Role.CLIENT and not uses_master(hop.config)):
        return
    lines = [d for d, certain in ctx.scan.directives_for(hop.host, "controlpath") if certain]
    raw = lines[0].value if lines else None
    where = lines[0].where if lines else None
    if _unique(hop, raw):
        yield make(OK, "ControlPath is unique per destination", value=raw or path)
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        "ControlPath has neither %C nor all of %r, %h and %p: other destinations that "
        "get the same ControlPath share this master, with its login and options",
        value=raw or path,
        where=where,
        fix=f"use `ControlPath {SUGGESTED_CONTROL_PATH}` (%C hashes the host, port and user)",
    )


def _master_matters(ctx: CheckContext, hop: HopContext) -> bool:
    return hop.config.control_path is not None and (
        ctx.role is Role.KERNEL or uses_master(hop.config)
    )


@hop_rule(
    "JS204",
    "controlpath-folder",
    "The ControlPath folder exists and only you can write to it",
    target_only=True,
)
def controlpath_folder(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    if path is None or not _master_matters(ctx, hop):
        return
    folder = os.path.dirname(path) or "."
    fix = f"mkdir -m 700 -p {folder}"
    try:
        info = os.stat(folder)
    except OSError as exc:
        yield make(
            ERROR,
            f"the ControlPath folder {folder} cannot be used ({exc.strerror}): ssh exits "
            "with 'cannot bind to path' as soon as it tries to start the master",
            value=folder,
            fix=fix,
        )
        return
    if not stat.S_ISDIR(info.st_mode) or not os.access(folder, os.W_OK | os.X_OK):
        yield make(
            ERROR,
            f"the ControlPath folder {folder} is not a folder you can write to",
            value=folder,
            fix=f"use a folder of your own, e.g. `ControlPath {SUGGESTED_CONTROL_PATH}`",
        )
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o002 and not mode & stat.S_ISVTX:
        yield make(
            WARNING,
            f"the ControlPath folder {folder} is writable by everyone (mode {mode:04o}): "
            "another user could replace the socket",
            value=f"{mode:04o}",
            fix=f"chmod 700 {folder}, or use a private folder",
        )
        return
    yield make(OK, f"the ControlPath folder {folder} exists", value=folder)


@hop_rule(
    "JS205",
    "controlpath-length",
    "The ControlPath is short enough for a Unix socket",
    target_only=True,
)
def controlpath_length(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    if path is None or not _master_matters(ctx, hop):
        return
    size = len(os.fsencode(path))
    value = f"{size} bytes"
    fix = f"use a shorter folder and %C, e.g. `ControlPath {SUGGESTED_CONTROL_PATH}`"
    if size > MAX_CONTROL_PATH:
        yield make(
            ERROR,
            f"the ControlPath is {size} bytes; ssh binds '<path>.<16 characters>' first, "
            f"so it must stay within {MAX_CONTROL_PATH} bytes here: the master cannot start "
            "('path too long for Unix domain socket')",
            value=value,
            fix=fix,
        )
    elif size > PORTABLE_MAX_CONTROL_PATH:
        yield make(
            INFO,
            f"the ControlPath is {size} bytes: fine here, too long on macOS and the BSDs "
            f"(limit {PORTABLE_MAX_CONTROL_PATH})",
            value=value,
            fix=fix + " if this config is shared with a Mac",
        )
    else:
        yield make(OK, f"the ControlPath is {size} bytes (limit {MAX_CONTROL_PATH})", value=value)


@hop_rule(
    "JS206",
    "controlpersist",
    "ControlPersist keeps the master after its first session ends",
    roles=(Role.KERNEL,),
    target_only=True,
)
def controlpersist(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    value = hop.config.control_persist.lower()
    if value not in ("no", "false", "0"):
        shown = "yes (until stopped)" if value == "yes" else f"{value} s idle"
        yield make(OK, f"ControlPersist is {shown}", value=value)
        return
    yield make(
        ERROR,
        "ControlPersist is no: the master ends with the session that opened it, "
        "taking the kernel's forwards with it",
        value=value,
        fix=f"set `ControlPersist 10m` in {_block(hop)}",
    )


@hop_rule(
    "JS207",
    "controlpath-shared",
    "No other alias resolves to the same control socket",
    roles=(Role.KERNEL, Role.CLIENT),
    target_only=True,
)
def controlpath_shared(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    if path is None or not _master_matters(ctx, hop):
        return
    sharing = sorted(name for name, cfg in ctx.neighbours.items() if cfg.control_path == path)
    if not sharing:
        if ctx.neighbours:
            yield make(
                OK,
                f"no other alias shares this control socket ({len(ctx.neighbours)} compared)",
                value=path,
            )
        return
    wildcard = next(
        (
            b
            for b in ctx.scan.host_blocks()
            if b.is_wildcard and b.applies(ctx.alias) and b.applies(sharing[0])
        ),
        None,
    )
    names = ", ".join(sharing)
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        f"{names} resolve{'s' if len(sharing) == 1 else ''} to the same control socket: "
        "whichever connects first owns the master, and the other rides it with the "
        "first one's login, forwards and options",
        value=path,
        where=wildcard.where if wildcard else None,
        fix=f"give {ctx.alias} its own ControlPath in its own block, above any wildcard "
        f"that sets one (ssh keeps the first value): `ControlPath {SUGGESTED_CONTROL_PATH}`, "
        "or `~/.ssh/cm-%n-%C` (%n is the alias as typed)",
    )


@hop_rule(
    "JS208",
    "tunnel-shares-master",
    "A persistent tunnel does not depend on a shared master",
    roles=(Role.TUNNEL,),
    target_only=True,
)
def tunnel_shares_master(ctx: CheckContext, hop: HopContext, make: Make) -> Iterator[Finding]:
    path = hop.config.control_path
    master = hop.config.control_master.lower()
    if path is None:
        yield make(OK, "the tunnel uses its own connection (ControlPath none)")
        return
    if uses_master(hop.config):
        message = (
            f"ControlMaster is {master}: the tunnel becomes (or rides) a shared master, so "
            "other sessions keep it busy, and when the master dies the tunnel dies with it"
        )
    else:
        message = (
            "ControlPath is set: with a master running on it, the tunnel rides that master "
            "and dies with it instead of reconnecting on its own"
        )
    yield make(
        WARNING,
        message,
        value=f"ControlMaster {master}, ControlPath {path}",
        fix=f"in {_block(hop)} set `ControlMaster no` and `ControlPath none` "
        "(or pass `-o ControlPath=none` to the tunnel's ssh)",
    )
