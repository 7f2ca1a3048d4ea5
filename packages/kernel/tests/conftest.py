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
# Run the remote command (the last argument) here, as sshd would run it on the host.
for last; do :; done
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
