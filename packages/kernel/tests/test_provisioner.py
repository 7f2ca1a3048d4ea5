"""SSHProvisioner under jupyter_client's own AsyncKernelManager, with no container: the
stand-in ssh plays the control master and runs the real launcher here, whose "kernel" is
a sleeping python. What each step costs in ssh processes is read from the stand-in's log.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from jupyter_client.manager import AsyncKernelManager

from jupyssh.core.errors import ForwardingError
from jupyssh.core.testing import FakeSSH
from jupyssh.kernel.errors import KernelLaunchError
from jupyssh.kernel.provisioner import SSHProvisioner
from jupyssh.kernel.specs import SpecOptions, install_spec

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("jupyter_dirs")]


def ssh_calls(fake_ssh: FakeSSH, what: str) -> int:
    """How many ssh processes ran with ``what`` (words) in their argv; ``"session"``:
    launcher sessions (their remote command is the bootstrap)."""
    if what == "session":
        return sum("jupyssh-launcher" in " ".join(argv) for argv in fake_ssh.calls())
    return fake_ssh.count(*what.split())


def sleepers(tmp_path: Path) -> list[int]:
    """The pids of this test's remote "kernels" (their connection file is under tmp_path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "time.sleep(60)" in cmdline and str(tmp_path) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s")
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def km(fake_ssh: FakeSSH, tmp_path: Path) -> AsyncIterator[AsyncKernelManager]:
    options = SpecOptions(
        "lab",
        host="lab",
        ssh_program=str(fake_ssh.program),
        remote_python=sys.executable,
        remote_kernel="sleeper",
        interrupt_mode="signal",
        shutdown_timeout=1.0,
    )
    install_spec(options)
    manager = AsyncKernelManager(kernel_name="lab")
    try:
        yield manager
    finally:
        if manager.has_kernel:
            await manager.shutdown_kernel(now=True)
        manager.context.destroy(linger=0)  # its own zmq context: unclosed, it warns
        for pid in sleepers(tmp_path):
            os.kill(pid, signal.SIGKILL)


@pytest_asyncio.fixture
async def running(km: AsyncKernelManager, fake_ssh: FakeSSH) -> AsyncKernelManager:
    """``km`` with its kernel started, on a master that ran already (the usual launch)."""
    fake_ssh.start_master()
    await km.start_kernel()
    return km


def provisioner_of(km: AsyncKernelManager) -> SSHProvisioner:
    provisioner = km.provisioner
    assert isinstance(provisioner, SSHProvisioner)
    return provisioner


async def test_a_launch_checks_the_master_once(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    assert ssh_calls(fake_ssh, "-O check") == 1
    assert ssh_calls(fake_ssh, "-O forward") == 5
    assert ssh_calls(fake_ssh, "session") == 1
    assert len(sleepers(tmp_path)) == 1
    # healthy, a poll runs no ssh process at all
    before = fake_ssh.calls()
    for _ in range(5):
        assert await km.is_alive()
    assert fake_ssh.calls() == before
    await km.shutdown_kernel(now=True)
    assert ssh_calls(fake_ssh, "-O cancel") == 5
    assert ssh_calls(fake_ssh, "-O check") == 1
    await until(lambda: not sleepers(tmp_path))


async def test_without_a_master_one_is_started_and_forwards_add_no_check(
    km: AsyncKernelManager, fake_ssh: FakeSSH
) -> None:
    await km.start_kernel()
    # start_master: check (none), start, check (its pid); the five forwards trust it
    assert ssh_calls(fake_ssh, "-O check") == 2
    assert ssh_calls(fake_ssh, "-N") == 1
    assert ssh_calls(fake_ssh, "-O forward") == 5


async def test_signals_travel_on_the_session_and_the_exit_is_reported(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    provisioner = provisioner_of(km)
    sessions = ssh_calls(fake_ssh, "session")
    await provisioner.send_signal(signal.SIGTERM)
    await until(lambda: provisioner._watcher is not None and provisioner._watcher.exit_code)
    assert await provisioner.poll() == -signal.SIGTERM
    assert ssh_calls(fake_ssh, "session") == sessions  # no new ssh session for the signal
    assert await provisioner.wait() == -signal.SIGTERM
    assert not provisioner.has_process
    assert not sleepers(tmp_path)


async def test_interrupt_in_signal_mode_reaches_the_kernel(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    await km.interrupt_kernel()  # SIGINT: the sleeper has no handler and ends
    await until(lambda: not sleepers(tmp_path))
    provisioner = provisioner_of(km)
    await until(lambda: provisioner._watcher is not None and provisioner._watcher.exit_code)
    assert await km.is_alive() is False


async def test_kill_ends_the_kernel_and_cleanup_releases_everything(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    provisioner = provisioner_of(km)
    await provisioner.kill()
    assert await provisioner.wait() == -signal.SIGKILL
    await provisioner.cleanup(restart=False)
    assert provisioner._watcher is None
    assert provisioner._forwards == {}
    assert ssh_calls(fake_ssh, "-O cancel") == 5
    assert not sleepers(tmp_path)


async def test_a_graceful_shutdown_terminates_a_kernel_that_does_not_answer(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    # the sleeper ignores the shutdown request: after shutdown_timeout, terminate() ends it
    started = time.monotonic()
    await km.shutdown_kernel()
    assert time.monotonic() - started < 8
    assert not km.has_kernel
    assert not sleepers(tmp_path)
    assert ssh_calls(fake_ssh, "-O cancel") == 5


async def test_restart_keeps_ports_and_forwards(
    running: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    km = running
    first = sleepers(tmp_path)
    ports = km.get_connection_info()
    await km.restart_kernel(now=True)
    await until(lambda: len(sleepers(tmp_path)) == 1 and sleepers(tmp_path) != first)
    assert km.get_connection_info() == ports
    # the launcher got the same remote ports back: no forward changed
    assert ssh_calls(fake_ssh, "-O forward") == 5
    assert ssh_calls(fake_ssh, "-O cancel") == 0


async def test_a_failure_halfway_through_the_launch_leaves_nothing_running(
    km: AsyncKernelManager, fake_ssh: FakeSSH, tmp_path: Path
) -> None:
    fake_ssh.start_master()
    fake_ssh.refuse_forwards()
    with pytest.raises(ForwardingError):
        await km.start_kernel()
    provisioner = provisioner_of(km)
    assert not provisioner.has_process
    assert ssh_calls(fake_ssh, "session") == 1  # the kernel did start on the "host" ...
    await until(lambda: not sleepers(tmp_path))  # ... and went with the failed launch
    watcher = provisioner._watcher
    assert watcher is None or not watcher.running


async def test_a_left_kernel_is_reattached_only_as_the_same_process(
    running: AsyncKernelManager, tmp_path: Path
) -> None:
    path = await provisioner_of(running).detach(tmp_path / "state.json")
    state = json.loads(path.read_text())
    assert isinstance(state["started"], int)  # the kernel's identity, with its pid
    [pid] = sleepers(tmp_path)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**state, "started": state["started"] + 1}))
    for state_file, reattaches in ((wrong, False), (path, True)):
        again = AsyncKernelManager(kernel_name="lab")
        assert again.kernel_spec is not None
        config = again.kernel_spec.metadata["kernel_provisioner"]["config"]
        config["existing"] = str(state_file)
        try:
            if not reattaches:
                with pytest.raises(KernelLaunchError, match="no longer running"):
                    await again.start_kernel()
                assert sleepers(tmp_path) == [pid]  # neither adopted nor signalled
                continue
            await again.start_kernel()
            assert provisioner_of(again)._pid == pid
            await again.shutdown_kernel(now=True)
            await until(lambda: not sleepers(tmp_path))
        finally:
            again.context.destroy(linger=0)
