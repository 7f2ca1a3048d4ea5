"""``suggest``: a dedicated ``Host`` block for one role, and appending it safely.

The block copies where the alias goes (HostName, User, Port, IdentityFile, ProxyJump, as
``ssh -G`` resolves them) and adds what the role needs. It is checked before anything
is written: the config plus the block is resolved by ``ssh -G`` from a temporary copy,
and every option an earlier line overrides (ssh keeps the *first* value it reads) is
reported. ``write_block`` appends to the config after a timestamped backup and never
changes a line that is already there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyssh.core.errors import ConfigError
from jupyssh.core.ssh import HostConfig, Resolver
from jupyssh.sshconfig._version import __version__
from jupyssh.sshconfig.configfile import (
    ConfigScan,
    default_user_config,
    scan_config,
    user_home,
)
from jupyssh.sshconfig.context import DEFAULT_IDENTITY_FILES
from jupyssh.sshconfig.findings import Role
from jupyssh.sshconfig.rules.control import CLIENT_CONTROL_PATH, SUGGESTED_CONTROL_PATH

__all__ = ["Override", "Suggestion", "WriteResult", "suggest_async", "write_block"]

_BACKUPS = 100
_HASHED = re.compile(r"[0-9a-f]{40}$")
#: One concrete host name: letters, digits and ``._@+:-`` only (so no pattern ``*``/``?``,
#: negation ``!``, space, quote or comment), and no leading ``-`` read as an option.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@+:-]*")

# keyword, value, what ssh -G prints for it ("" = only check that it is not overridden)
_COMMON: tuple[tuple[str, str, str], ...] = (
    ("IdentitiesOnly", "yes", "yes"),
    ("ConnectTimeout", "10", "10"),
    ("StrictHostKeyChecking", "accept-new", "accept-new"),
)
_ROLE_OPTIONS: dict[Role, tuple[tuple[str, str, str], ...]] = {
    Role.KERNEL: (
        ("BatchMode", "yes", "yes"),
        ("ControlMaster", "auto", "auto"),
        ("ControlPath", SUGGESTED_CONTROL_PATH, ""),
        ("ControlPersist", "10m", "600"),
        ("ServerAliveInterval", "15", "15"),
        ("ServerAliveCountMax", "4", "4"),
    ),
    Role.TUNNEL: (
        ("BatchMode", "yes", "yes"),
        ("ControlMaster", "no", "false"),
        ("ControlPath", "none", "none"),
        ("ServerAliveInterval", "15", "15"),
        ("ServerAliveCountMax", "3", "3"),
        ("ExitOnForwardFailure", "yes", "yes"),
    ),
    Role.CLIENT: (
        ("ControlMaster", "auto", "auto"),
        ("ControlPath", CLIENT_CONTROL_PATH, ""),
        ("ControlPersist", "10m", "600"),
        ("ServerAliveInterval", "30", "30"),
    ),
}


@dataclass(frozen=True)
class Override:
    """An option of the block that ssh does not take, because an earlier line set it."""

    keyword: str
    wanted: str
    actual: str
    where: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "keyword": self.keyword,
            "wanted": self.wanted,
            "actual": self.actual,
            "where": self.where,
        }


@dataclass(frozen=True)
class Suggestion:
    """A dedicated block for ``alias`` under the new name ``name``, for ``role``."""

    alias: str
    name: str
    role: Role
    options: tuple[tuple[str, str], ...]
    #: Keyword (lower case) -> what ``ssh -G`` should print once the block is in place.
    expected: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()

    @property
    def text(self) -> str:
        stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
        lines = [
            f"# Added by jupyssh-sshconfig {__version__} on {stamp}: a dedicated alias for "
            f"{self.alias} ({self.role} role).",
            *(f"# {note}" for note in self.notes),
            f"Host {self.name}",
            *(f"    {key} {value}" for key, value in self.options),
        ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "alias": self.alias,
            "name": self.name,
            "role": self.role.value,
            "options": [[key, value] for key, value in self.options],
            "text": self.text,
            "notes": list(self.notes),
            "overrides": [o.to_dict() for o in self.overrides],
        }


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) else value


def _identity(config: HostConfig, home: Path) -> tuple[list[str], str | None]:
    configured = list(config.identity_files)
    if configured and not set(configured) <= DEFAULT_IDENTITY_FILES:
        return [f for f in configured if f not in DEFAULT_IDENTITY_FILES], None
    for value in configured:
        if (home / ".ssh" / value.rsplit("/", 1)[-1]).is_file():
            return [value], None
    return [], "no key found: create one with `ssh-keygen -t ed25519` and add an IdentityFile line"


def _where_to(config: HostConfig, home: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    route: list[tuple[str, str, str]] = [
        ("HostName", config.hostname, config.hostname.lower()),
    ]
    notes: list[str] = []
    if config.user:
        route.append(("User", config.user, config.user))
    if config.port != 22:
        route.append(("Port", str(config.port), str(config.port)))
    keys, note = _identity(config, home)
    route += [("IdentityFile", _quote(key), "") for key in keys]
    notes += [note] if note else []
    jump = config.get("proxyjump")
    if jump and jump.lower() != "none":
        route.append(("ProxyJump", jump, jump))
    elif config.proxy_command:
        route.append(("ProxyCommand", config.proxy_command, ""))
    alias_key = config.get("hostkeyalias")
    if alias_key:
        route.append(("HostKeyAlias", alias_key, alias_key))
    return route, notes


def plain_host_name(name: str) -> str:
    """``name`` if it can only ever name itself in a ``Host`` line; ``ConfigError`` if not.

    A pattern such as ``*`` would make the new block apply to every alias no earlier
    block names, sending them all to this block's host (security review finding 17).
    """
    if _PLAIN_NAME.fullmatch(name) is None:
        raise ConfigError(
            "--name must be one host name, not a pattern",
            where=repr(name),
            hint="ssh reads *, ?, ! and spaces in a Host line as patterns that match other "
            "hosts too; pick a plain name such as lab-kernel",
        )
    return name


def build_suggestion(
    alias: str, role: Role, config: HostConfig, *, name: str | None = None, home: Path | None = None
) -> Suggestion:
    """The block for ``alias`` (already resolved to ``config``) under ``name``."""
    home = home or user_home()
    route, notes = _where_to(config, home)
    rows = [*route, *_COMMON, *_ROLE_OPTIONS[role]]
    return Suggestion(
        alias=alias,
        name=plain_host_name(f"{alias}-{role.value}" if name is None else name),
        role=role,
        options=tuple((key, value) for key, value, _ in rows),
        expected={key.lower(): shown for key, _, shown in rows},
        notes=tuple(notes),
    )


def _actual(resolved: HostConfig, keyword: str) -> str:
    if keyword == "controlpath":
        return resolved.control_path or "none"
    return resolved.get(keyword) or ""


def _matches(keyword: str, wanted: str, actual: str, ours: str) -> bool:
    if keyword == "controlpath":
        return (actual == "none") == (ours == "none") and (
            ours == "none" or bool(_HASHED.search(actual))
        )
    if not wanted:
        return True
    return actual.lower() == wanted.lower()


def _read(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")


def _scan_if_present(path: Path | None) -> ConfigScan | None:
    return scan_config(path) if path is not None and path.exists() else None


async def _resolve_with_block(suggestion: Suggestion, config_file: Path | None) -> HostConfig:
    """``ssh -G`` of the new name, from a private temporary copy of the config plus the block."""
    original = _read(config_file)
    if original and not original.endswith("\n"):
        original += "\n"
    handle, temp = tempfile.mkstemp(prefix="jupyssh-suggest-", suffix=".conf")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(original + "\n" + suggestion.text)
        return await Resolver(temp).resolve(suggestion.name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


async def _overrides(suggestion: Suggestion, config_file: Path | None) -> tuple[Override, ...]:
    resolved = await _resolve_with_block(suggestion, config_file)
    scan = _scan_if_present(config_file)
    ours = {k.lower(): v for k, v in suggestion.options}
    spelled = {k.lower(): k for k, _ in suggestion.options}
    found = []
    for keyword, wanted in suggestion.expected.items():
        actual = _actual(resolved, keyword)
        if keyword == "identityfile":
            continue
        if _matches(keyword, wanted, actual, ours[keyword]):
            continue
        earlier = scan.directives_for(suggestion.name, keyword) if scan else []
        where = earlier[0][0].where if earlier else None
        found.append(Override(spelled[keyword], wanted or ours[keyword], actual, where))
    return tuple(found)


async def suggest_async(
    alias: str,
    role: Role | str = Role.KERNEL,
    config: str | None = None,
    *,
    name: str | None = None,
    resolver: Resolver | None = None,
) -> Suggestion:
    """A dedicated block for ``alias`` and ``role``, with the options an earlier line overrides."""
    role = Role(role)
    resolver = resolver or Resolver(config)
    resolved = await resolver.resolve(alias)
    suggestion = build_suggestion(alias, role, resolved, name=name)
    path = Path(config) if config is not None else default_user_config()
    overrides = await _overrides(suggestion, path)
    return Suggestion(
        suggestion.alias,
        suggestion.name,
        suggestion.role,
        suggestion.options,
        suggestion.expected,
        suggestion.notes,
        overrides,
    )


@dataclass(frozen=True)
class WriteResult:
    path: str
    backup: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "backup": self.backup}


def _backup(path: Path) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(_BACKUPS):
        suffix = f".{stamp}.bak" if attempt == 0 else f".{stamp}-{attempt}.bak"
        target = path.with_name(path.name + suffix)
        if not target.exists():
            shutil.copy2(path, target)
            return str(target)
    raise ConfigError("too many backups made this second", where=str(path))


def write_block(suggestion: Suggestion, config: str | None = None) -> WriteResult:
    """Append the block to ``config`` (default ``~/.ssh/config``) after a backup.

    Refuses a name that is a pattern, and a name a ``Host`` line already names. Existing lines are
    never changed: the block goes at the end, separated by a blank line. A config that
    did not exist is created with mode 0600 (and ``~/.ssh`` with 0700).
    """
    plain_host_name(suggestion.name)
    path = Path(config) if config is not None else default_user_config()
    if path.exists():
        scan = scan_config(path)
        clash = next((b for b in scan.host_blocks() if suggestion.name in b.patterns), None)
        if clash is not None:
            raise ConfigError(
                f"a Host line already names {suggestion.name}",
                where=clash.where,
                hint="pick another name with --name (existing lines are never edited)",
            )
        backup: str | None = _backup(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        lead = "" if not text else "\n" if text.endswith("\n") else "\n\n"
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        backup, lead = None, ""
    with open(path, "a", encoding="utf-8") as out:
        out.write(lead + suggestion.text)
    if backup is None:
        path.chmod(0o600)
    return WriteResult(str(path), backup)
