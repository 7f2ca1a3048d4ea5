"""The typed errors of jupyssh-kernel, each naming the host and the next step to try.

They subclass :mod:`jupyssh.core.errors`, so the ``jupyssh`` command prints them as one
line with their exit status, and library callers catch the narrowest one they act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyssh.core.errors import ConfigError, JupysshError, RemoteCommandNotFound
from jupyssh.core.ssh import match_ssh_failure

if TYPE_CHECKING:
    from jupyssh.kernel.watcher import Event

__all__ = [
    "KernelLaunchError",
    "KernelSpecError",
    "RemoteKernelSpecMissing",
    "RemotePythonMissing",
    "error_for_launch",
]

#: Exit status of a shell that could not find the command (POSIX).
_NOT_FOUND = 127


class KernelLaunchError(JupysshError):
    """The remote kernel could not be started (or re-attached)."""

    exit_code = 10
    kind = "kernel-launch"


class RemoteKernelSpecMissing(KernelLaunchError):
    """The remote host has no kernelspec of the name the spec asks for."""

    kind = "remote-kernelspec-missing"


class RemotePythonMissing(RemoteCommandNotFound):
    """The launcher's python does not exist on the remote host."""

    kind = "remote-python-missing"


class KernelSpecError(ConfigError):
    """A local kernelspec is missing, not jupyssh's, or holds options that cannot work."""

    kind = "kernelspec"


def error_for_launch(event: Event, where: str, stderr: str) -> JupysshError:
    """The typed error for a launcher that answered ``error`` or ended without answering."""
    if event.name == "error":
        kind = str(event.facts.get("kind", ""))
        message = str(event.facts.get("message", "the remote launcher failed"))
        if kind == "kernelspec-missing":
            return RemoteKernelSpecMissing(
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
        return RemotePythonMissing(
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
