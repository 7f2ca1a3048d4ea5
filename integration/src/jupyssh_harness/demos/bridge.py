"""jupyssh-bridge: OpenSSH's ssh into the sandbox's Jupyter server, which has no SSH port."""

from __future__ import annotations

import socket
import subprocess
import time

from ..containers import JUPYTER_PORT, LOOPBACK
from ..demo import Demo, DemoError
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

        demo.say(
            "ssh -L through the bridge: a local port reaches the Jupyter container's own "
            f"loopback ({LOOPBACK}:{JUPYTER_PORT}, its Jupyter server), connected from "
            "inside the kernel"
        )
        _local_forward(demo, ssh, port=_free_port(), token=demo.sandbox.jupyter.token)
    print("bridge stopped; every kernel it started is deleted", flush=True)


#: Seconds the forward may take to come up (the connection's first channel starts a kernel).
_FORWARD_TIMEOUT_S = 120.0


def _local_forward(demo: Demo, ssh: list[str], *, port: int, token: str) -> None:
    """Show ``ssh -N -L`` to the container's Jupyter port and a GET of ``/api/status``
    through it (with the token, from ``$JUPYTER_TOKEN``); stop the ssh at the end."""
    import httpx

    argv = [
        *ssh, "-N", "-o", "ExitOnForwardFailure=yes",
        "-L", f"{LOOPBACK}:{port}:{LOOPBACK}:{JUPYTER_PORT}", "jupyter@127.0.0.1",
    ]  # fmt: skip
    print(f"$ {' '.join(argv)} &", flush=True)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(proc, port)
        url = f"http://{LOOPBACK}:{port}/api/status"
        print(f"$ curl -H 'Authorization: token $JUPYTER_TOKEN' {url}", flush=True)
        with httpx.Client(trust_env=False, timeout=30) as client:
            answer = client.get(url, headers={"Authorization": f"token {token}"})
        print(answer.text.strip(), flush=True)
        print(f"HTTP {answer.status_code} through ssh -L and the bridge", flush=True)
        if answer.status_code != 200:
            raise DemoError("the Jupyter server did not answer through the bridge's forward")
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # ssh was seen to outlive a SIGTERM by 30 s
            proc.kill()
            _, stderr = proc.communicate(timeout=30)
    if stderr.strip():
        print(stderr.decode(errors="replace").rstrip(), flush=True)


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until ssh accepts on ``port`` (it listens once the bridge took the forward)."""
    deadline = time.monotonic() + _FORWARD_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"ssh -L ended (exit {proc.returncode}) before it listened")
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        return
    raise DemoError(f"ssh -L did not listen on {port} within {_FORWARD_TIMEOUT_S:.0f}s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])
