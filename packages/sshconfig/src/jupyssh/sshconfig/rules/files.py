"""JS5xx — the config files themselves: accepted by ssh, safe, and doing what they say."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator

from jupyssh.sshconfig.configfile import default_user_config
from jupyssh.sshconfig.context import CheckContext, Make
from jupyssh.sshconfig.findings import Finding, Severity
from jupyssh.sshconfig.patterns import never_matches
from jupyssh.sshconfig.rules.registry import config_rule, produced_rule

ERROR, WARNING, INFO, OK = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.OK

# "/home/u/.ssh/config line 10: Unsupported option "rsaauthentication""
_WARNING_AT = re.compile(r"^(?P<file>.+?):? line (?P<line>\d+): (?P<what>.+)$")

produced_rule(
    "JS501",
    "config-rejected",
    "ssh accepts every line of the config (no bad or unknown keyword)",
)


def _unsafe(info: os.stat_result) -> str | None:
    if info.st_uid not in (0, os.getuid()):
        return f"owned by uid {info.st_uid}"
    if stat.S_IMODE(info.st_mode) & 0o022:
        return f"writable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


@config_rule("JS502", "config-permissions", "Config files are writable by you only")
def config_permissions(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    roots = set(ctx.scan.roots)
    user_default = str(default_user_config(ctx.probes.home))
    safe = 0
    for path in ctx.scan.files:
        try:
            info = os.stat(path)
        except OSError:
            continue
        problem = _unsafe(info)
        if problem is None:
            safe += 1
            continue
        if path not in roots or path == user_default:
            yield make(
                ERROR,
                f"{path} is {problem}: ssh refuses to read it ('Bad owner or permissions')",
                value=f"{stat.S_IMODE(info.st_mode):04o}",
                where=path,
                fix=f"chmod 600 {path}",
            )
        else:
            yield make(
                WARNING,
                f"{path} is {problem}: ssh -F does not check, but whoever can write it can "
                "make ssh run any command as you (ProxyCommand, LocalCommand)",
                value=f"{stat.S_IMODE(info.st_mode):04o}",
                where=path,
                fix=f"chmod 600 {path}",
            )
    if safe:
        yield make(OK, f"{safe} config file(s) are writable by you only", value=str(safe))


@config_rule("JS503", "ssh-folder-permissions", "~/.ssh is private to you")
def ssh_folder_permissions(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    folder = ctx.probes.home / ".ssh"
    try:
        info = os.stat(folder)
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    value = f"{mode:04o}"
    fix = f"chmod 700 {folder}"
    if info.st_uid != os.getuid() or mode & 0o022:
        owner = "another user" if info.st_uid != os.getuid() else "you"
        yield make(
            WARNING,
            f"{folder} (owned by {owner}, mode {value}) can be written by others: they "
            "could replace your config, keys or known_hosts",
            value=value,
            where=str(folder),
            fix=fix,
        )
    elif mode & 0o077:
        yield make(
            INFO,
            f"{folder} has mode {value}: others can list it (sshd's StrictModes accepts "
            "this, but 700 is the norm)",
            value=value,
            where=str(folder),
            fix=fix,
        )
    else:
        yield make(OK, f"{folder} has mode {value}", value=value, where=str(folder))


@config_rule("JS504", "ssh-warnings", "ssh prints no warning while reading the config")
def ssh_warnings(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    seen: dict[str, None] = {}
    for hop in ctx.hops:
        for line in hop.config.warnings:
            seen.setdefault(line, None)
    for line in seen:
        match = _WARNING_AT.match(line)
        where = f"{match['file']}:{match['line']}" if match else None
        what = match["what"] if match else line
        yield make(
            WARNING,
            f"ssh says: {what}",
            value=what,
            where=where,
            fix="remove or update that line (an option this OpenSSH no longer supports "
            "does nothing)",
        )


@config_rule("JS505", "include-missing", "Every Include matches at least one file")
def include_missing(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    for miss in ctx.scan.include_misses:
        yield make(
            INFO,
            f"Include {miss.pattern} matches no file: ssh skips it silently",
            value=miss.pattern,
            where=miss.where,
            fix="fix the path, or remove the Include line if it is not needed",
        )
    for path, reason in ctx.scan.unreadable:
        yield make(
            ERROR,
            f"Include names {path}, which cannot be read ({reason}): ssh stops there",
            value=path,
            where=path,
            fix=f"chmod 600 {path} (and make it yours)",
        )
    if ctx.scan.truncated:
        yield make(
            ERROR,
            f"Include nesting goes too deep: {ctx.scan.truncated}",
            fix="look for an Include that includes itself",
        )


@config_rule("JS506", "host-never-matches", "Every Host line can match something")
def host_never_matches(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    for block in ctx.scan.host_blocks():
        if never_matches(block.patterns):
            positive = " ".join(["*", *block.patterns])
            yield make(
                WARNING,
                f"`{block.header}` has only negated patterns, so it applies to no host at all",
                value=" ".join(block.patterns),
                where=block.where,
                fix=f"add a positive pattern: `Host {positive}`",
            )


produced_rule("JS507", "config-missing", "The config file exists and can be read")


@config_rule("JS508", "alias-undefined", "A Host block names the alias itself")
def alias_undefined(ctx: CheckContext, make: Make) -> Iterator[Finding]:
    host = ctx.alias.rsplit("@", 1)[-1]
    if host in ctx.scan.aliases():
        block = next(b for b in ctx.scan.host_blocks() if host in b.patterns)
        yield make(OK, f"`{block.header}` defines {host}", value=host, where=block.where)
        return
    yield make(
        ctx.pick(kernel=WARNING, client=INFO),
        f"no Host line names {host!r}: its settings come only from wildcards and defaults, "
        "so a change made for other hosts changes it too",
        value=host,
        fix=f"add a dedicated block: `jupyssh sshconfig suggest {host} --role {ctx.role}`",
    )
