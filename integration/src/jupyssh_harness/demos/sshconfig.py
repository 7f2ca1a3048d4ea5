"""jupyssh-sshconfig: the sandbox alias passes; its deliberately broken twin does not."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from ..demo import Demo

PACKAGE = "jupyssh-sshconfig"
MODULE = "jupyssh.sshconfig"
TITLE = "why an ssh alias will or will not carry a remote kernel"


def run(demo: Demo) -> None:
    demo.say("Check the sandbox alias hop by hop, connecting for real")
    demo.jupyssh(
        "sshconfig", "check", "-F", demo.config, "--role", "kernel", "--connect", demo.alias
    )

    broken_config = demo.workdir / "ssh_config.broken"
    _, broken = write_broken_twin(demo.config, demo.alias, broken_config)
    demo.say(f"The same host with common mistakes ({broken} in {broken_config.name})")
    demo.jupyssh(
        "sshconfig", "check", "-F", str(broken_config), "--role", "kernel", broken, expect=1
    )

    demo.say("What a dedicated Host block for it would look like")
    demo.jupyssh("sshconfig", "suggest", "-F", demo.config, demo.alias)


def write_broken_twin(config: str | Path, alias: str, target: str | Path) -> tuple[str, str]:
    """Copy ``config`` to ``target`` and append ``<alias>-broken``; return both names.

    The twin reaches the same HostName, Port and User as ``alias`` but names a key that
    does not exist, switches host-key checking off, and asks for a master that cannot
    start (``ControlMaster yes`` in a folder that does not exist, ``ControlPersist no``).
    """
    from jupyssh.core.ssh import Resolver

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
