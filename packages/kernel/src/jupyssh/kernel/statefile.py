"""The state file of a remote kernel: what re-attaching to it needs (``--existing FILE``).

Written with jupyter's ``secure_write`` (0600: it holds the kernel's key) into Jupyter's
runtime folder, as ``jupyssh-kernel-<id>.json``. It names the host, the remote pid and
folder, the remote endpoints and the key; never a password.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir, secure_write

from jupyssh.kernel.errors import KernelSpecError

__all__ = ["KernelState", "default_state_path"]


def default_state_path(kernel_id: str) -> Path:
    """Where a kernel's state goes when the caller names no file."""
    return Path(jupyter_runtime_dir()) / f"jupyssh-kernel-{kernel_id}.json"


@dataclass(frozen=True)
class KernelState:
    """A remote kernel that runs (or ran) on ``host``, as re-attaching needs it."""

    host: str
    ssh_config: str | None
    kernel_name: str
    pid: int
    folder: str
    #: The remote connection info without the key: transport, ip and the five ports.
    remote: dict[str, Any]
    key: str
    signature_scheme: str
    #: The kernel's start time on the host (/proc/<pid>/stat), checked with the pid before
    #: re-attaching; None in state files written before it was recorded.
    started: int | None = None

    def write(self, path: Path) -> Path:
        """Write this state to ``path`` (0600); return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with secure_write(str(path)) as handle:
            json.dump(asdict(self), handle, indent=1)
        return path

    @classmethod
    def read(cls, path: str | Path) -> KernelState:
        """Read a state file, refusing anything that is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise KernelSpecError(
                f"not a jupyssh kernel state file: {exc}",
                where=str(path),
                hint="pass the file `jupyssh kernel launch --leave` printed",
            ) from exc
