"""The typed errors of jupyssh-bridge, each saying what failed and what to try.

They subclass :mod:`jupyssh.core.errors`, so the ``jupyssh`` command prints them as one
line with their exit status, and a channel whose kernel could not start shows the same
line to the SSH client.
"""

from __future__ import annotations

from jupyssh.core.errors import ConfigError, KernelConnectionError

__all__ = ["AgentError", "ReaderUnavailableError", "SFTPUnavailableError"]


class AgentError(KernelConnectionError):
    """The agent could not be installed in the kernel, or broke its protocol."""

    kind = "bridge-agent"


class ReaderUnavailableError(AgentError):
    """The compiled reader was required (``reader="compiled"``) and the kernel cannot run it."""

    kind = "bridge-reader"


class SFTPUnavailableError(ConfigError):
    """The ``sftp`` subsystem was asked for and ``jupyssh-sftp`` is not installed."""

    kind = "bridge-sftp-missing"
