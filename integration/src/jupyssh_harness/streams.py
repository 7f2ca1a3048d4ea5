"""A stream of random bytes sent by a remote command and hashed on both sides: how the
integration tests prove a transport byte-exact (the bridge, the hub, its WebSocket)."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["HashedStream", "stream_random"]

#: How long one stream may take, the sender's end included.
STREAM_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class HashedStream:
    """What :func:`stream_random` saw: the bytes received, their SHA-256, what the sending
    side reported as its own SHA-256, the client's exit status and its stderr."""

    received: int
    digest: str
    remote_digest: str
    status: int
    stderr: bytes


def stream_random(
    argv_for: Callable[[str], Sequence[str]],
    size: int,
    *,
    env: Mapping[str, str] | None = None,
    pause_after: int | None = None,
    pause: float = 0.0,
) -> HashedStream:
    """Run ``argv_for(COMMAND)`` (an ssh client), COMMAND being ``head -c SIZE
    /dev/urandom`` with its SHA-256 on stderr, and hash what arrives on stdout. With
    ``pause_after``, stop reading for ``pause`` seconds once that many bytes arrived (a
    stalled reader). Bounded: :data:`STREAM_TIMEOUT_S`."""
    command = f"head -c {size} /dev/urandom | tee >(sha256sum >&2)"
    with subprocess.Popen(
        list(argv_for(command)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        digest = hashlib.sha256()
        received = 0
        deadline = time.monotonic() + STREAM_TIMEOUT_S
        while chunk := proc.stdout.read(1 << 20 if pause_after is None else 1 << 16):
            digest.update(chunk)
            received += len(chunk)
            if pause_after is not None and received >= pause_after:
                time.sleep(pause)
                pause_after = None
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"the stream took more than {STREAM_TIMEOUT_S:.0f} s")
        stderr = proc.stderr.read()
        status = proc.wait(timeout=60)
    reported = stderr.split()[0].decode() if stderr.split() else ""
    return HashedStream(received, digest.hexdigest(), reported, status, stderr)
