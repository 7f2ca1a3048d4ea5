"""Contents models to SFTP attributes (``stat``, ``ls -l``).

What maps: ``type`` to the file type bits (``directory`` → ``S_IFDIR``, ``file`` and
``notebook`` → ``S_IFREG``), ``writable`` to the write bits (0644/0755, or 0444/0555),
``size`` to the size (0 for folders, whose model has none), ``last_modified`` to mtime and
atime. There are no owners: the Jupyter server runs as one user, so uid and gid are left
out (clients show them as 0 or blank).
"""

from __future__ import annotations

import stat
from datetime import datetime, timezone

from paramiko import SFTPAttributes

from jupyssh.core.jupyter import ContentsModel

__all__ = ["attributes", "model_mtime"]


def attributes(model: ContentsModel) -> SFTPAttributes:
    """The SFTP attributes of ``model`` (with ``filename`` set, for directory listings)."""
    attrs = SFTPAttributes()
    attrs.filename = model["name"]
    is_dir = model["type"] == "directory"
    mode = 0o755 if is_dir else 0o644
    if not model.get("writable", True):
        mode &= ~0o222
    attrs.st_mode = (stat.S_IFDIR if is_dir else stat.S_IFREG) | mode
    attrs.st_size = 0 if is_dir else int(model.get("size") or 0)
    mtime = model_mtime(model)
    if mtime is not None:
        attrs.st_mtime = attrs.st_atime = mtime
    return attrs


def model_mtime(model: ContentsModel) -> int | None:
    """``last_modified`` as a Unix time, or ``None`` when missing or unreadable."""
    value = model.get("last_modified")
    if not isinstance(value, str) or not value:
        return None
    try:  # Python 3.10's fromisoformat does not take the "Z" jupyter_server writes
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())
