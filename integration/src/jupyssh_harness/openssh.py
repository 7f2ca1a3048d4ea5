"""argv of the OpenSSH client programs (ssh, sftp, scp) pinned to one server.

The options trust exactly one known_hosts file and offer exactly one key: nothing from the
user's ssh config, agent or global known_hosts, and never a prompt. Tests, demos and
benchmarks that point a stock client at a jupyssh server (or a container) use these, so
the client always behaves the same way and never touches the user's own files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

__all__ = ["pinned_argv", "pinned_options"]

Program = Literal["ssh", "sftp", "scp"]


def pinned_options(
    known_hosts: Path,
    identity: Path,
    *,
    port: int | str | None = None,
    port_flag: Literal["-p", "-P"] = "-p",
    options: Mapping[str, str] | None = None,
) -> list[str]:
    """``-F /dev/null -o BatchMode=yes … -i IDENTITY [-p PORT]``, then ``-o K=V`` for each
    of ``options``. ``port_flag`` is ``-p`` for ssh and ``-P`` for sftp and scp."""
    pinned = {
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "UserKnownHostsFile": str(known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        **(options or {}),
    }
    argv = ["-F", "/dev/null"]
    for key, value in pinned.items():
        argv += ["-o", f"{key}={value}"]
    argv += ["-i", str(identity)]
    if port is not None:
        argv += [port_flag, str(port)]
    return argv


def pinned_argv(
    program: Program,
    known_hosts: Path,
    identity: Path,
    *,
    port: int | str | None = None,
    options: Mapping[str, str] | None = None,
) -> list[str]:
    """``PROGRAM`` and its :func:`pinned_options`; append the destination and the rest."""
    port_flag: Literal["-p", "-P"] = "-p" if program == "ssh" else "-P"
    return [
        program,
        *pinned_options(known_hosts, identity, port=port, port_flag=port_flag, options=options),
    ]
