"""Unit-test fixtures: a private Jupyter data folder holding a fake kernelspec whose
"kernel" is a sleeping Python process, and core's stand-in ``ssh`` (``FakeSSH``), which
plays the control master and runs the remote command on this machine (so the real
launcher and bootstrap run, with no network)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyssh.core.testing import FakeSSH


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
def fake_ssh(tmp_path: Path) -> Iterator[FakeSSH]:
    """Core's stand-in ``ssh``: give ``str(fake_ssh.program)`` as the ssh program."""
    fake = FakeSSH.install(tmp_path / "fake-bin")
    yield fake
    fake.stop()
