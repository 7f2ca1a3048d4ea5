"""What the bridge, sftp and hub demos share: a fresh client key that the server authorizes,
and ``jupyssh PACKAGE serve --json`` in front of the sandbox's Jupyter server (or the
options and environment a step gives), from its announcement to its stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._common import HarnessError
from ..announcement import read_announcement
from ..demo import Demo, DemoError

__all__ = ["Served", "fresh_workdir_and_key", "serving"]

_START_TIMEOUT_S = 60.0


def fresh_workdir_and_key(demo: Demo, name: str) -> tuple[Path, Path]:
    """``demo.workdir/NAME`` made anew, and a client key in it that ``authorized_keys``
    (beside it, 0600) lists."""
    workdir = demo.workdir / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}-demo", "-f", str(key)],
        check=True,
        timeout=30,
    )
    authorized = workdir / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    return workdir, key


@dataclass(frozen=True)
class Served:
    """A running server: what it announced, the known_hosts that pins it, its port."""

    facts: dict[str, object]
    known_hosts: Path
    port: str


@contextmanager
def serving(
    demo: Demo,
    package: str,
    workdir: Path,
    intro: str,
    *,
    options: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """Show and start ``jupyssh PACKAGE serve --json`` (its log in ``workdir/serve.log``);
    stop it with SIGTERM at the end of the block. By default it serves the sandbox's
    Jupyter server (token from $JUPYTER_TOKEN); ``options`` and ``env`` replace that."""
    server = demo.sandbox.jupyter
    if options is None:
        options = [
            "--jupyter-url", server.url,
            "--listen", "127.0.0.1:0", "--authorized-keys", str(workdir / "authorized_keys"),
        ]  # fmt: skip
    shown = [
        "jupyssh", package, "serve", "--json", *options,
        "--host-key", str(workdir / "host_key"),
    ]  # fmt: skip
    demo.say(intro)
    print(f"$ {' '.join(shown)} &", flush=True)
    program = str(Path(sys.executable).with_name("jupyssh"))
    with (workdir / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [program, *shown[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **demo.env, **(env or {"JUPYTER_TOKEN": server.token})},
        )
    try:
        facts = _facts(proc, package)
        print(json.dumps(facts, indent=2), flush=True)
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"{facts['known_hosts']}\n")
        yield Served(facts, known_hosts, str(facts["listen"]).rsplit(":", 1)[1])
    finally:
        _stop(proc, package)


def _facts(proc: subprocess.Popen[bytes], package: str) -> dict[str, object]:
    """The JSON document ``serve --json`` prints once it listens."""
    try:
        return read_announcement(proc, _START_TIMEOUT_S)
    except HarnessError as exc:
        raise DemoError(
            f"jupyssh {package} serve did not start (see {package}/serve.log): {exc}"
        ) from exc


def _stop(proc: subprocess.Popen[bytes], package: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        raise DemoError(f"jupyssh {package} serve exited {proc.returncode}")
