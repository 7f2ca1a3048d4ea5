"""Unit-test fixtures: a private Jupyter data folder holding a fake kernelspec whose
"kernel" is a sleeping Python process, and a stand-in ``ssh`` that runs the remote command
on this machine (so the real launcher and bootstrap run, with no network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FAKE_SSH = """\
#!/bin/sh
# A stand-in for OpenSSH's client. Each call appends its argv to "$0.log" (tests count
# ssh processes there). It answers `-G` with a minimal config, plays the control master
# ("$0.master" holds its pid while it "runs"; `-N` starts it, `-O exit` stops it) with
# `-O check`, `-O forward` (refused while "$0.refuse-forward" exists) and `-O cancel`,
# and runs any other remote command (the last argument) here, as sshd would on the host.
printf '%s\\n' "$*" >> "$0.log"
op=""; prev=""; master=""
for arg; do
    [ "$prev" = "-O" ] && op="$arg"
    [ "$arg" = "-G" ] && op="resolve"
    [ "$arg" = "-N" ] && master="yes"
    prev="$arg"
done
for last; do :; done
no_master() {
    echo "Control socket connect($0.socket): No such file or directory" >&2
    exit 255
}
case "$op" in
    resolve) printf 'hostname %s\\nport 22\\n' "$last"; exit 0 ;;
    check) [ -f "$0.master" ] || no_master
        echo "Master running (pid=$(cat "$0.master"))" >&2; exit 0 ;;
    forward) [ -f "$0.master" ] || no_master
        if [ -f "$0.refuse-forward" ]; then
            echo "mux_client_forward: forwarding request failed: Port forwarding failed" >&2
            exit 255
        fi
        exit 0 ;;
    cancel) [ -f "$0.master" ] || no_master; exit 0 ;;
    exit) rm -f "$0.master"; exit 0 ;;
esac
if [ -n "$master" ]; then echo "$$" > "$0.master"; exit 0; fi
exec sh -c "$last"
"""


@pytest.fixture
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    (data / "kernels" / "sleeper").mkdir(parents=True)
    spec = {
        "argv": [
            sys.executable,
            "-c",
            "import sys, time; open(sys.argv[1]).read(); time.sleep(60)",
            "{connection_file}",
        ],
        "display_name": "Sleeper",
        "language": "python",
    }
    (data / "kernels" / "sleeper" / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYSSH_HOME", str(tmp_path / "js"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return data


@pytest.fixture
def fake_ssh(tmp_path: Path) -> Path:
    program = tmp_path / "ssh"
    program.write_text(FAKE_SSH)
    program.chmod(0o755)
    return program
