"""jupyssh-bridge: OpenSSH's ssh into the sandbox's Jupyter server, which has no SSH port."""

from __future__ import annotations

from ..demo import Demo
from ..openssh import pinned_argv
from .serving import fresh_workdir_and_key, serving

PACKAGE = "jupyssh-bridge"
MODULE = "jupyssh.bridge"
TITLE = "ssh into a Jupyter server that has no SSH port"


def run(demo: Demo) -> None:
    workdir, key = fresh_workdir_and_key(demo, "bridge")

    intro = (
        "Start the bridge in front of the sandbox's Jupyter server (token from "
        "$JUPYTER_TOKEN); it prints the known_hosts line to pin"
    )
    with serving(demo, "bridge", workdir, intro) as served:
        known_hosts, port = served.known_hosts, served.port
        ssh = pinned_argv("ssh", known_hosts, key, port=port)

        demo.say("A command on pipes: stdout and stderr apart, the real exit status")
        demo.shell([*ssh, "-T", "jupyter@127.0.0.1", "echo hi; echo err >&2; exit 3"], expect=3)

        demo.say("Piped stdin, hashed in the kernel's container")
        demo.shell(
            [*ssh, "-T", "jupyter@127.0.0.1", "sha256sum"], input_text="data through the bridge\n"
        )

        demo.say("An interactive login shell on a PTY (scripted keystrokes), ending with exit 7")
        demo.shell(
            [*ssh, "-tt", "jupyter@127.0.0.1"],
            input_text="echo $TERM; stty size; tty; exit 7\n",
            env={"TERM": "xterm-256color"},
            expect=7,
        )
    print("bridge stopped; every kernel it started is deleted", flush=True)
