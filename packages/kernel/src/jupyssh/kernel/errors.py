"""The typed errors of jupyssh-kernel, each naming the host and the next step to try.

They subclass :mod:`jupyssh.core.errors`, so the ``jupyssh`` command prints them as one
line with their exit status, and library callers catch the narrowest one they act on.
This module holds the classes only; which launcher answer becomes which error is
:func:`jupyssh.kernel.protocol.error_for_launch`.
"""

from __future__ import annotations

from jupyssh.core.errors import ConfigError, JupysshError, RemoteCommandNotFound

__all__ = [
    "KernelLaunchError",
    "KernelSpecError",
    "RemoteKernelSpecMissingError",
    "RemotePythonMissingError",
]


class KernelLaunchError(JupysshError):
    """The remote kernel could not be started (or re-attached)."""

    exit_code = 10
    kind = "kernel-launch"


class RemoteKernelSpecMissingError(KernelLaunchError):
    """The remote host has no kernelspec of the name the spec asks for."""

    kind = "remote-kernelspec-missing"


class RemotePythonMissingError(RemoteCommandNotFound):
    """The launcher's python does not exist on the remote host."""

    kind = "remote-python-missing"


class KernelSpecError(ConfigError):
    """A local kernelspec is missing, not jupyssh's, or holds options that cannot work."""

    kind = "kernelspec"


#: The names before every error class ended in ``Error`` (kept for existing imports).
RemoteKernelSpecMissing = RemoteKernelSpecMissingError
RemotePythonMissing = RemotePythonMissingError
