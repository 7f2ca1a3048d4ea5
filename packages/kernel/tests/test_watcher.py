"""The local end of the launcher session, through the real AsyncSSHHost and a stand-in ssh
that runs the remote command here: a start, and the typed error of each failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyssh.core.errors import OperationTimeout
from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.core.testing import FakeSSH
from jupyssh.kernel.errors import (
    KernelLaunchError,
    RemoteKernelSpecMissingError,
    RemotePythonMissingError,
)
from jupyssh.kernel.watcher import Watcher, remote_command


def host(fake_ssh: FakeSSH) -> AsyncSSHHost:
    return AsyncSSHHost("lab", ssh_program=str(fake_ssh.program), control_path="/tmp/none-%C")


def test_remote_command_quotes_python_and_keeps_setup_as_shell_text() -> None:
    plain = remote_command("/opt/py 3/bin/python")
    assert plain[0] == "/opt/py 3/bin/python"
    setup = remote_command("python3", "module load py; source ~/v/bin/activate")
    assert setup[:2] == ["bash", "-c"]
    assert setup[2].startswith("module load py; source ~/v/bin/activate\n")
    assert setup[3] == "python3"


@pytest.mark.asyncio
@pytest.mark.usefixtures("jupyter_dirs")
async def test_start_signal_and_exit(fake_ssh: FakeSSH) -> None:
    import sys

    params = {"mode": "start", "kernel": "sleeper", "key": "k"}
    watcher, event = await Watcher.start(host(fake_ssh), params, python=sys.executable, timeout=30)
    assert event.name == "ready"
    assert await watcher.send("attached")
    assert await watcher.send("signal 9")
    await watcher.ended.wait()
    assert watcher.exit_code == -9
    assert not watcher.lost
    await watcher.close()
    assert not await watcher.send("signal 2")


@pytest.mark.asyncio
@pytest.mark.usefixtures("jupyter_dirs")
async def test_failures_are_typed(fake_ssh: FakeSSH, tmp_path: Path) -> None:
    import sys

    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec cat >/dev/null\n")  # never ready; ends when closed
    slow.chmod(0o755)
    params = {"mode": "start", "kernel": "nope", "key": "k"}
    with pytest.raises(RemoteKernelSpecMissingError, match="sleeper"):
        await Watcher.start(host(fake_ssh), params, python=sys.executable, timeout=30)
    with pytest.raises(RemotePythonMissingError):
        await Watcher.start(host(fake_ssh), params, python="/no/python", timeout=30)
    with pytest.raises(KernelLaunchError, match="status 1"):
        await Watcher.start(host(fake_ssh), params, python="false", timeout=30)
    with pytest.raises(OperationTimeout, match="did not start"):
        await Watcher.start(host(fake_ssh), params, python=str(slow), timeout=0.5)
