"""The OpenSSH client driver: ``ssh -G`` resolution, remote commands, the control master.

Everything here drives the ``ssh`` program with argv lists (never a shell string), quotes
every remote word with :func:`shlex.quote`, passes secrets on stdin, and turns ssh's
failures into the typed errors of :mod:`jupyssh.core.errors`.
"""

from jupyssh.core.ssh.classify import classify_ssh_failure, match_ssh_failure
from jupyssh.core.ssh.host import AsyncSSHHost, CommandResult, LocalForward, SSHHost
from jupyssh.core.ssh.hostconfig import HostConfig, JumpSpec, parse_jump_specs, parse_ssh_g
from jupyssh.core.ssh.resolve import Hop, Resolver

__all__ = [
    "AsyncSSHHost",
    "CommandResult",
    "Hop",
    "HostConfig",
    "JumpSpec",
    "LocalForward",
    "Resolver",
    "SSHHost",
    "classify_ssh_failure",
    "match_ssh_failure",
    "parse_jump_specs",
    "parse_ssh_g",
]
