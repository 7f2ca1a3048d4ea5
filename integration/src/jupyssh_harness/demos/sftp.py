"""jupyssh-sftp: OpenSSH's sftp and scp against the sandbox's Jupyter server."""

from __future__ import annotations

import os

from ..demo import Demo
from ..openssh import pinned_options
from .serving import fresh_workdir_and_key, serving

PACKAGE = "jupyssh-sftp"
MODULE = "jupyssh.sftp"
TITLE = "sftp and scp to a Jupyter server, through its Contents API"


def run(demo: Demo) -> None:
    workdir, key = fresh_workdir_and_key(demo, "sftp")
    payload = workdir / "results 2024.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024 + 5))

    intro = (
        "Serve the sandbox's Jupyter files over SFTP (token from $JUPYTER_TOKEN); "
        "it prints the known_hosts line to pin"
    )
    with serving(demo, "sftp", workdir, intro) as served:
        known_hosts, port = served.known_hosts, served.port
        options = pinned_options(known_hosts, key, port=port, port_flag="-P")
        back = workdir / "back.bin"
        demo.say("sftp -b: make a folder, put a file (a space in its name), list, get it back")
        demo.shell(
            ["sftp", *options, "-b", "-", "me@127.0.0.1"],
            input_text=(
                "mkdir demo-sftp\n"
                f'put "{payload}" "demo-sftp/results 2024.bin"\n'
                "ls -l demo-sftp\n"
                f'get "demo-sftp/results 2024.bin" "{back}"\n'
            ),
        )
        demo.say("The same bytes came back")
        demo.shell(["sha256sum", str(payload), str(back)])
        demo.say("scp (SFTP mode) over it, then a save-by-rename as editors do (posix-rename)")
        demo.shell(["scp", *options, str(payload), "me@127.0.0.1:demo-sftp/copy.bin"])
        demo.shell(
            ["sftp", *options, "-b", "-", "me@127.0.0.1"],
            input_text="rename demo-sftp/copy.bin 'demo-sftp/results 2024.bin'\nls demo-sftp\n",
        )
        demo.say("Nothing outside the Jupyter root: a path that climbs out is refused")
        demo.shell(
            ["sftp", *options, "-b", "-", "me@127.0.0.1"],
            input_text=f"get ../../etc/passwd {workdir / 'passwd'}\n",
            expect=1,
        )
    print("sftp server stopped", flush=True)
