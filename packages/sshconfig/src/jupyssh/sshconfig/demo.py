"""What the demo calls: check an alias and show the table, and make a broken twin of it.

``show`` is ``check`` plus the human table (the same view as ``jupyssh sshconfig check``).
``write_broken_twin`` copies a config and appends ``<alias>-broken``: the same host, with
the mistakes this package exists to catch (a missing key, host keys off, a master that
cannot work), so a demo can show both verdicts side by side without touching real files.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from rich.console import Console

from jupyssh.core.ssh import Resolver
from jupyssh.sshconfig.checker import check
from jupyssh.sshconfig.findings import Report, Role
from jupyssh.sshconfig.render import print_report

__all__ = ["show", "write_broken_twin"]


def show(
    alias: str,
    *,
    config: str | None = None,
    role: Role | str = Role.KERNEL,
    connect: bool = False,
    console: Console | None = None,
) -> Report:
    """Check ``alias`` and print the route, the findings and the verdict; return the report."""
    report = check(alias, role, connect, config)
    print_report(report, console)
    return report


def write_broken_twin(config: str | Path, alias: str, target: str | Path) -> tuple[str, str]:
    """Copy ``config`` to ``target`` and append ``<alias>-broken``; return both names.

    The twin reaches the same HostName, Port and User as ``alias`` but names a key that
    does not exist, switches host-key checking off, and asks for a master that cannot
    start (``ControlMaster yes`` in a folder that does not exist, ``ControlPersist no``).
    """
    source, copy = Path(config), Path(target)
    resolved = asyncio.run(Resolver(str(source)).resolve(alias))
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, copy)
    copy.chmod(0o600)
    broken = f"{alias}-broken"
    folder = copy.parent
    lines = [
        "",
        f"# A deliberately broken twin of {alias}, for the jupyssh-sshconfig demo.",
        f"Host {broken}",
        f"    HostName {resolved.hostname}",
        f"    Port {resolved.port}",
        f"    User {resolved.user}",
        f"    IdentityFile {folder}/no-such-key",
        "    IdentitiesOnly yes",
        "    BatchMode yes",
        "    StrictHostKeyChecking no",
        "    UserKnownHostsFile /dev/null",
        "    ControlMaster yes",
        f"    ControlPath {folder}/no-such-folder/cm-%C",
        "    ControlPersist no",
    ]
    with open(copy, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return str(copy), broken
