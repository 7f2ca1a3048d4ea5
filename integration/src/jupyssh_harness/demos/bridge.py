"""jupyssh-bridge: OpenSSH's ssh into the sandbox's Jupyter server, which has no SSH port."""

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
from ..openssh import pinned_argv

PACKAGE = "jupyssh-bridge"
MODULE = "jupyssh.bridge"
TITLE = "ssh into a Jupyter server that has no SSH port"

_START_TIMEOUT_S = 60.0


def run(demo: Demo) -> None:
    workdir = demo.workdir / "bridge"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bridge-demo", "-f", str(key)],
        check=True,
        timeout=30,
    )
    authorized = workdir / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)

    server = demo.sandbox.jupyter
    shown = [
        "jupyssh",
        "bridge",
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
        "Start the bridge in front of the sandbox's Jupyter server (token from "
        "$JUPYTER_TOKEN); it prints the known_hosts line to pin"
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
    finally:
        _stop(proc)
    print("bridge stopped; every kernel it started is deleted", flush=True)


def _facts(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    """The JSON document ``serve --json`` prints once it listens."""
    if proc.stdout is None:
        raise DemoError("jupyssh bridge serve has no output pipe")
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
    raise DemoError("jupyssh bridge serve did not start (see bridge/serve.log)")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        raise DemoError(f"jupyssh bridge serve exited {proc.returncode}")
