"""A stand-in for OpenSSH's ``ssh`` client, for unit tests that run jupyssh's ssh code
without a network or a server.

``FakeSSH.install(folder)`` writes the program ``folder/ssh``; point ``ssh_program`` at it,
or put ``folder`` first on PATH. It plays what jupyssh asks of OpenSSH:

- ``-G DEST``: a minimal resolved config (``hostname DEST``, ``port 22``);
- a control master: ``-N`` starts one, ``-O check`` reports it (or its absence, as ssh
  does), ``-O forward -L SPEC`` and ``-O cancel -L SPEC`` add and remove a forward, and
  ``-O exit`` ends the master and its forwards;
- any other call runs its remote command (the last argument) here with ``sh -c``, as sshd
  would on the host, with the caller's stdin, stdout and stderr.

A forward is only recorded, unless ``relays=True``: then it is real, a relay process on the
local port that the fake starts, ``-O cancel``/``-O exit`` end, and :meth:`FakeSSH.stop`
ends at the latest. :meth:`FakeSSH.answer` makes every call (``-G`` excepted) fail or
succeed as told; :meth:`FakeSSH.refuse_forwards` makes forwards fail as ssh's do. Every
call's argv is recorded, in the order the calls began.

The program is a POSIX shell script: a test that launches a kernel makes a dozen ssh
calls, and a shell starts in a fraction of a Python interpreter's time. Only a relay is
Python.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MASTER_PID", "FakeSSH"]

#: The pid ``-O check`` reports for the fake's master (no such process is started).
MASTER_PID = 4242

# One relay per forward: binds the local end at once (as ssh does before ``-O forward``
# returns), prints the pid of the process that then serves it, and exits.
_RELAY = r"""
import os, socket, sys, threading, time
host, port, *target = sys.argv[1].split(":")
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    listener.bind((host, int(port)))
except OSError:
    sys.stderr.write(
        f"bind [{host}]:{port}: Address already in use\r\n"
        f"channel_setup_fwd_listener_tcpip: cannot listen to port: {port}\r\n"
        "Could not request local forwarding.\r\n"
    )
    sys.exit(255)
listener.listen(16)
child = os.fork()
if child:
    print(child, flush=True)
    os._exit(0)
os.setsid()
quiet = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(quiet, fd)

def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for end in (src, dst):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def serve(client):
    if len(target) == 1:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(target[0])
    else:
        upstream = socket.create_connection((target[0], int(target[1])))
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()

listener.settimeout(1.0)
deadline = time.monotonic() + 300  # a relay left behind ends by itself
while time.monotonic() < deadline:
    try:
        client, _ = listener.accept()
    except socket.timeout:
        continue
    try:
        serve(client)
    except OSError:
        client.close()
"""

_PROGRAM = r"""#!/bin/sh
# A stand-in for OpenSSH's ssh client, written by jupyssh.core.testing.FakeSSH: see its
# docstring. Its state is the folder "$0.state".
state="$0.state"
# One record a call, numbered in the order the calls began: noclobber opens each number
# with O_EXCL, so concurrent calls (forwards cancelled together) never share one.
# Bounded: without its folder (a test long gone) the fake fails instead of spinning.
set -C
n=1
until true 2>/dev/null >"$state/calls/$n"; do
    n=$((n + 1))
    [ -d "$state/calls" ] && [ "$n" -le 100000 ] || { echo "fake ssh: no $state" >&2; exit 255; }
done
set +C
printf '%s\0' "$@" >"$state/calls/$n"

op=""; spec=""; prev=""; resolve=""; master=""
for arg; do
    case "$prev" in
        -O) op="$arg" ;;
        -L) spec="$arg" ;;
    esac
    case "$arg" in
        -G) resolve=yes ;;
        -N) master=yes ;;
    esac
    prev="$arg"
done
for last; do :; done

say() { printf '%s\r\n' "$1" >&2; }

if [ -n "$resolve" ]; then printf 'hostname %s\nport 22\n' "$last"; exit 0; fi
if [ -f "$state/answer-status" ]; then
    read -r status <"$state/answer-status"
    cat "$state/answer-stderr" >&2
    exit "$status"
fi

# A forward's record: its spec with "/" (a Unix socket's path) made "_".
name=""; rest="$spec"
while :; do
    case "$rest" in
        */*) name="$name${rest%%/*}_"; rest="${rest#*/}" ;;
        *) name="$name$rest"; break ;;
    esac
done

stop_forward() {
    pid=""
    [ -f "$1" ] && read -r pid <"$1"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -f "$1"
}

if [ -n "$op" ]; then
    if [ ! -f "$state/master" ]; then
        say "Control socket connect($state/ctl): No such file or directory"
        exit 255
    fi
    case "$op" in
        check) read -r pid <"$state/master"; say "Master running (pid=$pid)"; exit 0 ;;
        forward)
            if [ -f "$state/refuse-forward" ]; then
                say "mux_client_forward: forwarding request failed: Port forwarding failed"
                exit 255
            fi
            pid=""
            if [ -f "$state/relays-on" ]; then
                pid=$(@PYTHON@ -I -S "$state/relay.py" "$spec") || exit 255
                printf '%s\n' "$pid" >>"$state/relays"
            fi
            printf '%s\n' "$pid" >"$state/forwards/$name"
            exit 0 ;;
        cancel) stop_forward "$state/forwards/$name"; exit 0 ;;
        exit)
            for each in "$state/forwards"/*; do
                [ -f "$each" ] && stop_forward "$each"
            done
            rm -f "$state/master"
            say "Exit request sent."
            exit 0 ;;
    esac
    say "fake ssh: unsupported -O $op"
    exit 255
fi
if [ -n "$master" ]; then echo @MASTER_PID@ >"$state/master"; exit 0; fi
exec sh -c "$last"
"""


@dataclass(frozen=True)
class FakeSSH:
    """The fake ``ssh`` program and its state: calls, master, forwards, relays.

    Made by a package's ``fake_ssh`` fixture with :meth:`install`; the fixture calls
    :meth:`stop` when its test ends.
    """

    program: Path

    @classmethod
    def install(
        cls, folder: Path, *, relays: bool = False, python: str = sys.executable
    ) -> FakeSSH:
        """Write ``folder/ssh`` (``folder`` is made if missing). ``relays``: forwards are
        real (a ``python`` relay each), else only recorded."""
        state = folder / "ssh.state"
        (state / "calls").mkdir(parents=True)
        (state / "forwards").mkdir()
        (state / "relay.py").write_text(_RELAY)
        if relays:
            (state / "relays-on").touch()
        program = folder / "ssh"
        text = _PROGRAM.replace("@PYTHON@", shlex.quote(python))
        program.write_text(text.replace("@MASTER_PID@", str(MASTER_PID)))
        program.chmod(0o755)
        return cls(program)

    @property
    def state(self) -> Path:
        return self.program.parent / "ssh.state"

    # --- what the test sets up -------------------------------------------------------------

    def start_master(self) -> None:
        """As if a master ran already (ControlPersist): the usual case for a launch."""
        (self.state / "master").write_text(f"{MASTER_PID}\n")

    def stop_master(self) -> None:
        """As if the master had died (reboot, kill)."""
        (self.state / "master").unlink(missing_ok=True)

    def refuse_forwards(self) -> None:
        """Every ``-O forward`` from now on fails as ssh's does when sshd refuses it."""
        (self.state / "refuse-forward").touch()

    def answer(self, status: int, stderr: str = "") -> None:
        """Every call from now on (``-G`` excepted) prints ``stderr`` and exits ``status``,
        as ssh does when it cannot connect (255) or a remote command fails."""
        (self.state / "answer-stderr").write_text(stderr)
        (self.state / "answer-status").write_text(f"{status}\n")

    # --- what the test reads ---------------------------------------------------------------

    def calls(self) -> list[list[str]]:
        """Every argv the fake was called with (without the program), in order."""
        records = sorted((self.state / "calls").iterdir(), key=lambda path: int(path.name))
        return [record.read_bytes().decode().split("\0")[:-1] for record in records]

    def commands(self) -> list[list[str]]:
        """The words of every remote command run, in order: what the caller passed to
        ``run``, unwrapped from the pid-recording shell a bounded run adds around it
        (:mod:`jupyssh.core.ssh.stoppable`). ``-G`` and ``-O`` calls and masters have none."""
        found = []
        for argv in self.calls():
            if "-G" in argv or "-O" in argv or "-N" in argv:
                continue
            words = shlex.split(argv[-1])
            if words[:2] == ["sh", "-c"] and len(words) == 6 and "jupyssh-$1.pid" in words[2]:
                words = shlex.split(words[5])
            found.append(words)
        return found

    def count(self, *words: str) -> int:
        """How many calls had ``words`` side by side in their argv (``count("-O", "check")``)."""
        return sum(_holds(argv, words) for argv in self.calls())

    def operations(self) -> list[str]:
        """The ``-O`` operations in order, each with the ``-L`` spec of forward and cancel."""
        found = []
        for argv in self.calls():
            if "-O" in argv:
                operation = argv[argv.index("-O") + 1]
                if "-L" in argv:
                    operation += " " + argv[argv.index("-L") + 1]
                found.append(operation)
        return found

    @property
    def master_running(self) -> bool:
        return (self.state / "master").exists()

    def forwards(self) -> list[str]:
        """The forwards open now (their spec, with ``/`` made ``_``)."""
        return sorted(path.name for path in (self.state / "forwards").iterdir())

    def relay_pids(self) -> list[int]:
        """Every relay started so far, running or not."""
        relays = self.state / "relays"
        return [int(line) for line in relays.read_text().split()] if relays.exists() else []

    def stop(self) -> None:
        """End every relay still running (the fixture's teardown)."""
        for pid in self.relay_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _holds(argv: Sequence[str], words: Sequence[str]) -> bool:
    width = len(words)
    return any(tuple(argv[i : i + width]) == tuple(words) for i in range(len(argv) - width + 1))
