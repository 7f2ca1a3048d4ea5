"""jupyssh-sshconfig: the sandbox alias passes; its deliberately broken twin does not."""

from __future__ import annotations

from ..demo import Demo

PACKAGE = "jupyssh-sshconfig"
MODULE = "jupyssh.sshconfig"
TITLE = "why an ssh alias will or will not carry a remote kernel"


def run(demo: Demo) -> None:
    from jupyssh.sshconfig.demo import write_broken_twin

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
