"""jupyssh-sftp: OpenSSH's sftp and scp against the sandbox's Jupyter server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..demo import Demo, DemoError
from ..openssh import pinned_options

PACKAGE = "jupyssh-sftp"
MODULE = "jupyssh.sftp"
TITLE = "sftp and scp to a Jupyter server, through its Contents API"

_START_TIMEOUT_S = 60.0


def run(demo: Demo) -> None:
    workdir = demo.workdir / "sftp"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sftp-demo", "-f", str(key)],
        check=True,
        timeout=30,
    )
    authorized = workdir / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    payload = workdir / "results 2024.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024 + 5))

    server = demo.sandbox.jupyter
    shown = [
        "jupyssh",
        "sftp",
        "serve",
        "--json",
        "--jupyter-url",
        server.url,
        "--listen",
        "127.0.0.1:0",
        "--authorized-keys",
        str(authorized),
        "--host-key",
        str(workdir / "host_key"),
    ]
    demo.say(
        "Serve the sandbox's Jupyter files over SFTP (token from $JUPYTER_TOKEN); "
        "it prints the known_hosts line to pin"
    )
    print(f"$ {' '.join(shown)} &", flush=True)
    program = str(Path(sys.executable).with_name("jupyssh"))
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [program, *shown[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **demo.env, "JUPYTER_TOKEN": server.token},
        )
    try:
        facts = _facts(proc)
        print(json.dumps(facts, indent=2), flush=True)
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"{facts['known_hosts']}\n")
        port = str(facts["listen"]).rsplit(":", 1)[1]
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
    finally:
        _stop(proc)
    print("sftp server stopped", flush=True)


def _facts(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    """The JSON document ``serve --json`` prints once it listens."""
    if proc.stdout is None:
        raise DemoError("jupyssh sftp serve has no output pipe")
    text = ""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        text += line
        if line.startswith("}"):
            facts: dict[str, object] = json.loads(text)
            return facts
    raise DemoError("jupyssh sftp serve did not start (see sftp/serve.log)")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        raise DemoError(f"jupyssh sftp serve exited {proc.returncode}")
