"""No secret in any argv or ``-vvv`` log line while ``jupyssh sftp serve`` and ``jupyssh
bridge serve`` serve a real OpenSSH client against the real Jupyter container (hardening
issue, acceptance 4): not the Jupyter token, not the login cookie Jupyter answers with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from jupyssh_harness import ArgvWatch, JupyterServer, KeyPair, lines_with
from jupyssh_harness.openssh import pinned_argv

pytestmark = [pytest.mark.integration]

#: tornado's signed values (jupyter_server's login cookie) start so; a log must hold none.
SIGNED_COOKIE = re.compile(r"2\|1:0\|\d+:\d+\|")


@contextmanager
def serving(
    jupyter_server: JupyterServer, keypair: KeyPair, folder: Path, package: str
) -> Iterator[tuple[int, Path, Path]]:
    """``jupyssh PACKAGE serve -vvv`` (token in its environment); yields its port, the
    known_hosts that pins it and the file its stderr goes to. Stopped with SIGTERM."""
    authorized = folder / "authorized_keys"
    authorized.write_text(keypair.public_line + "\n", encoding="ascii")
    authorized.chmod(0o600)
    log = folder / "serve.log"
    argv = [
        str(Path(sys.executable).with_name("jupyssh")), package, "serve", "-vvv",
        "--jupyter-url", jupyter_server.url, "--listen", "127.0.0.1:0",
        "--authorized-keys", str(authorized), "--host-key", str(folder / "host_key"),
    ]  # fmt: skip
    with log.open("w") as stderr:
        process = subprocess.Popen(
            argv,
            env={**os.environ, "JUPYTER_TOKEN": jupyter_server.token},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        known = ""
        deadline = time.monotonic() + 60
        while not known and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            known = line.removeprefix("known_hosts: ").strip() if "known_hosts:" in line else ""
        assert known, f"{package} serve did not start: {log.read_text()[-2000:]}"
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(known + "\n", encoding="ascii")
        port = int(known.split()[0].rpartition(":")[2])
        yield port, known_hosts, log
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def assert_no_secret(watch: ArgvWatch, log: Path, token: str) -> None:
    text = log.read_text()
    assert "DEBUG" in text, "no -vvv output: the log check would be blind"
    assert "httpcore" in text, "the HTTP libraries logged nothing: the cookie check is blind"
    assert watch.samples > 5
    assert watch.holding([token]) == []
    assert lines_with(text, [token]) == []
    assert [line for line in text.splitlines() if SIGNED_COOKIE.search(line)] == []


def run(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_sftp_serve_shows_no_token_or_cookie(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path: Path
) -> None:
    local = tmp_path / "up.txt"
    local.write_text("secret-free payload\n")
    with ArgvWatch() as watch, serving(jupyter_server, keypair, tmp_path, "sftp") as served:
        port, known_hosts, log = served
        sftp = pinned_argv("sftp", known_hosts, keypair.private_key, port=port)
        done = run(
            [*sftp, "-b", "-", "sandbox@127.0.0.1"],
            f"put {local} leak-check.txt\nls\nget leak-check.txt {tmp_path / 'down.txt'}\n",
        )
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "down.txt").read_text() == "secret-free payload\n"
    assert_no_secret(watch, log, jupyter_server.token)


def test_bridge_serve_shows_no_token_or_cookie(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path: Path
) -> None:
    with ArgvWatch() as watch, serving(jupyter_server, keypair, tmp_path, "bridge") as served:
        port, known_hosts, log = served
        ssh = pinned_argv("ssh", known_hosts, keypair.private_key, port=port)
        done = run([*ssh, "sandbox@127.0.0.1", "echo bridged"])
        assert done.stdout.split()[0] == "bridged", done.stderr
    assert_no_secret(watch, log, jupyter_server.token)
