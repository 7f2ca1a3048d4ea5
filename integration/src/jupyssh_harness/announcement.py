"""What ``jupyssh … serve --json`` announces on stdout once it listens: one JSON document
(its address, host key line, limits), then nothing until it exits. Tests, the demo and the
benchmarks start servers that way and read the document with :func:`read_announcement`."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from ._common import HarnessError

__all__ = ["read_announcement"]


def read_announcement(
    proc: subprocess.Popen[bytes], timeout: float = 60.0, *, log: Path | None = None
) -> dict[str, Any]:
    """The JSON document ``proc`` prints on its stdout pipe (pretty-printed: it ends with a
    line starting with ``}``). Raises :class:`HarnessError` if the process ends, or says
    nothing whole, within ``timeout`` seconds (a server that hangs before listening must
    fail its test, not stall it), with the end of ``log`` (its stderr) when given."""
    try:
        return _read(proc, timeout)
    except HarnessError as exc:
        if log is None or not log.exists():
            raise
        said = log.read_text(errors="replace")[-2000:]
        raise HarnessError(f"{exc}; its log ends:\n{said}") from None


def _read(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    if proc.stdout is None:
        raise HarnessError(f"{proc.args!r} has no stdout pipe")
    fd = proc.stdout.fileno()
    text = b""
    deadline = time.monotonic() + timeout
    while not any(line.startswith(b"}") for line in text.splitlines()):
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError(f"no announcement within {timeout:.0f} s: {text[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)  # unbuffered: select and the pipe agree
        if not chunk:
            raise HarnessError(f"the server ended (status {proc.wait()}) before it announced")
        text += chunk
    document: dict[str, Any] = json.loads(text)
    return document
