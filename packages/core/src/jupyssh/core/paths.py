"""Where jupyssh keeps its files: config, state, cache and runtime directories.

One place decides every path so that all packages agree, and every directory is made
private (0700) when it is created: they hold host keys, control sockets and connection
files. ``JUPYSSH_HOME`` moves all four under one folder (tests, containers, portable
installs); otherwise platformdirs' XDG locations are used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

from jupyssh.core.errors import ConfigError

__all__ = [
    "cache_dir",
    "config_dir",
    "ensure_private_dir",
    "make_private_dirs",
    "runtime_dir",
    "state_dir",
]

_APP = "jupyssh"


def _home_override(kind: str) -> Path | None:
    home = os.environ.get("JUPYSSH_HOME")
    return Path(home).expanduser() / kind if home else None


def config_dir() -> Path:
    """User configuration: kernel and tunnel definitions, the servers' host keys."""
    return _home_override("config") or Path(platformdirs.user_config_dir(_APP))


def state_dir() -> Path:
    """Persistent state that is not configuration: logs, pidfiles, backups."""
    return _home_override("state") or Path(platformdirs.user_state_dir(_APP))


def cache_dir() -> Path:
    """Disposable data that speeds things up: build caches, downloaded modules."""
    return _home_override("cache") or Path(platformdirs.user_cache_dir(_APP))


def runtime_dir() -> Path:
    """Sockets and files that live no longer than a login: control-master sockets.

    Kept short on purpose: a Unix socket path may not exceed 107 bytes, and control
    sockets are named by a 40-character hash inside this folder.
    """
    override = _home_override("run")
    if override is not None:
        return override
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / _APP
    # No per-user runtime folder (containers, cron, su): a private folder under /tmp,
    # named by uid so that users never share it.
    return Path("/tmp") / f"{_APP}-{os.getuid()}"  # noqa: S108


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and every missing parent with mode 0700; folders that already
    exist are left as they are (``~/.config`` is not jupyssh's to change).

    ``Path.mkdir(parents=True, mode=…)`` gives the mode to the last folder only: the
    parents it makes get the umask's default (0755 with the usual 022).
    """
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)  # exist_ok: a concurrent start made it


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents, each 0700) if needed and make sure only its owner can
    use it.

    Refuses a folder owned by someone else: for a folder under /tmp that would let another
    user plant a control socket or read connection files.
    """
    make_private_dirs(path)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ConfigError(
            "folder is owned by another user",
            where=str(path),
            hint="remove it or set JUPYSSH_HOME to a folder of your own",
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path
