"""The wire protocol between the local side and the remote launcher, local half.

The launcher (:mod:`jupyssh.kernel.remote_launcher`, stdlib only, shipped on stdin) prints
one ``JUPYSSH {json}`` line per event; :class:`Event` parses them. :data:`BOOTSTRAP` is
what ``python -c`` runs on the host to read the launcher from stdin (defined by the
launcher, which starts the same bootstrap on compute nodes), and
:func:`error_for_launch` turns a failed answer (an ``error`` event with its wire ``kind``,
or a session that ended first) into the typed error of :mod:`jupyssh.kernel.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyssh.core.errors import JupysshError
from jupyssh.core.ssh import match_ssh_failure
from jupyssh.kernel.errors import (
    KernelLaunchError,
    RemoteKernelSpecMissingError,
    RemotePythonMissingError,
)
from jupyssh.kernel.remote_launcher import BOOTSTRAP, PREFIX

__all__ = ["BOOTSTRAP", "PREFIX", "Event", "error_for_launch"]

# BOOTSTRAP (what ``python -c`` runs on the host) and PREFIX (the start of every event
# line; other lines are noise, a module system's banner, and are only logged) have one
# home, the launcher, which also runs the bootstrap itself on compute nodes.
#: Exit status of a shell that could not find the command (POSIX).
_NOT_FOUND = 127


@dataclass(frozen=True)
class Event:
    """One line the launcher printed: ``ready``, ``alive``, ``exit``, ``specs`` or ``error``
    (and ``session-ended``, made locally when the session ended without an answer)."""

    name: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, line: str) -> Event | None:
        if not line.startswith(PREFIX):
            return None
        try:
            data = json.loads(line[len(PREFIX) :])
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return None
        return cls(data.pop("event"), data)


def error_for_launch(event: Event, where: str, stderr: str) -> JupysshError:
    """The typed error for a launcher that answered ``error`` or ended without answering."""
    if event.name == "error":
        kind = str(event.facts.get("kind", ""))
        message = str(event.facts.get("message", "the remote launcher failed"))
        if kind == "kernelspec-missing":
            return RemoteKernelSpecMissingError(
                message,
                where=where,
                hint="pick one of those with `jupyssh kernel edit NAME --remote-kernel K`, "
                "or install the kernel there (`python -m ipykernel install --user`)",
            )
        return KernelLaunchError(message, where=where, hint=_hint_for(kind))
    returncode = event.facts.get("returncode")
    ssh_error = match_ssh_failure(stderr, where=where) if returncode == 255 else None
    if ssh_error is not None:
        return ssh_error
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if returncode == _NOT_FOUND:
        return RemotePythonMissingError(
            "the launcher python was not found on the host" + (f": {tail}" if tail else ""),
            where=where,
            hint="set an absolute path with `jupyssh kernel edit NAME --remote-python PATH`, "
            "or an environment setup with --env-setup",
            stderr=tail,
            returncode=_NOT_FOUND,
        )
    return KernelLaunchError(
        f"the remote launcher ended (status {returncode}) before the kernel started"
        + (f": {tail}" if tail else ""),
        where=where,
        hint="run `jupyssh kernel list NAME` to check the host, python and kernelspec",
    )


def _hint_for(kind: str) -> str:
    return {
        "cwd-missing": "create it, or change it with `jupyssh kernel edit NAME --cwd DIR`",
        "kernel-exec": "check the remote kernelspec's argv (its program must exist there)",
        "kernelspec-invalid": "fix the remote kernelspec's kernel.json",
    }.get(kind, "run `jupyssh kernel list NAME` to check the host")
