"""Watching for secrets where other users can see them: every process's argv.

:class:`ArgvWatch` samples the argv of every process on this machine (``/proc``) and, through
``docker exec ps``, in the containers named, on a background thread while a command runs,
and keeps each distinct argv it saw; :meth:`ArgvWatch.holding` then names those holding a
secret, which may be known only after the run (a key the command generated). Log text is
checked with :func:`lines_with`. Sampling is bounded by its interval and the block.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType

from testcontainers.core.container import DockerContainer
from typing_extensions import Self

from .containers import exec_in

__all__ = ["ArgvWatch", "lines_with", "local_argvs"]


def local_argvs() -> list[str]:
    """The argv of every process on this machine, space-joined (readable ones only)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if raw:
            found.append(raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace"))
    return found


def lines_with(text: str, secrets: Iterable[str]) -> list[str]:
    """The lines of ``text`` that hold any of ``secrets`` (empty secrets ignored)."""
    wanted = [s for s in secrets if s]
    return [line for line in text.splitlines() if any(s in line for s in wanted)]


class ArgvWatch:
    """Samples argvs while the ``with`` block runs: ``seen`` holds each distinct argv,
    ``samples`` how many rounds ran (a watch that never sampled proves nothing)."""

    def __init__(
        self, *, containers: Sequence[DockerContainer] = (), interval: float = 0.05
    ) -> None:
        self.containers = list(containers)
        self.interval = interval
        self.seen: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="argv-watch", daemon=True)

    def _sample(self) -> None:
        argvs = local_argvs()
        for container in self.containers:
            result = exec_in(container, ["ps", "-eww", "-o", "args="], check=False)
            argvs += result.stdout.splitlines()
        self.seen.update(argvs)
        self.samples += 1

    def holding(self, secrets: Iterable[str]) -> list[str]:
        """The argvs seen that hold any of ``secrets``."""
        return sorted(lines_with("\n".join(self.seen), secrets))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._sample()  # one last look, after the block
