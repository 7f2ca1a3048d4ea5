"""Acceptance 1: a spec added with `jupyssh kernel add` starts through jupyter_client, runs
on the container, is interrupted in both modes, restarted by the user and three times by
the auto-restarter, shut down, and leaves the sandbox user's processes at their baseline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import SSHContainer, until, wait_for
from traitlets.config import Config

from jupyssh.kernel.provisioner import PORT_NAMES, SSHProvisioner

from .conftest import user_processes

pytestmark = pytest.mark.asyncio


def manager(name: str) -> Any:
    from jupyter_client.ioloop import AsyncIOLoopKernelManager

    config = Config()
    config.KernelRestarter.time_to_dead = 1.0
    config.KernelRestarter.stable_start_time = 2.0
    return AsyncIOLoopKernelManager(kernel_name=name, config=config)


async def execute(kc: Any, code: str, timeout: float = 30) -> tuple[dict[str, Any], str]:
    """Run ``code``; return the reply content and everything it printed."""
    msg_id = kc.execute(code)
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        msg = await kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    # Skip stale replies: wait_for_ready may have sent several kernel_info requests to a
    # kernel still starting, and each is answered.
    while True:
        reply = await kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"], "".join(out)


async def settle(kc: Any, attempts: int = 50) -> None:
    """Wait until the kernel runs requests again: after an error (an interrupted cell)
    ipykernel aborts the execute requests that reach it before it has flushed its queue,
    a window that is longer on a loaded machine."""
    for _ in range(attempts):
        content, _ = await execute(kc, "pass")
        if content["status"] != "aborted":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the kernel still aborted requests after {attempts} attempts")


async def until_printed(kc: Any, msg_id: str, text: str, timeout: float = 30) -> None:
    """Wait until the request ``msg_id`` printed ``text``: its code runs (``execute_input``
    comes before the user's code does, too early for a signal to land in it)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != "stream":
            continue
        if text in msg["content"]["text"]:
            return


async def interrupt_sleep(km: Any, kc: Any, mode: str) -> float:
    """Interrupt ``time.sleep(30)`` in ``mode``; return seconds until the error reply."""
    assert km.kernel_spec is not None
    km.kernel_spec.interrupt_mode = mode
    await settle(kc)
    msg_id = kc.execute("import time; print('sleeping', flush=True); time.sleep(30)")
    await until_printed(kc, msg_id, "sleeping")
    started = time.monotonic()
    await km.interrupt_kernel()
    while True:
        reply = await kc.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    return time.monotonic() - started


async def test_lifecycle_through_jupyter_client(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path]
) -> None:
    name, _ = kernel_spec
    baseline = user_processes(ssh_host.exec)
    container_hostname = ssh_host.exec(["hostname"]).stdout.strip()
    km = manager(name)
    await km.start_kernel()
    provisioner = km.provisioner
    assert isinstance(provisioner, SSHProvisioner)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        content, out = await execute(kc, "import socket; print(socket.gethostname())")
        assert content["status"] == "ok"
        assert out.strip() == container_hostname
        assert len(user_processes(ssh_host.exec)) == len(baseline) + 2  # kernel + launcher
        ports = {n: getattr(km, n) for n in PORT_NAMES}
        key = km.session.key

        assert await interrupt_sleep(km, kc, "message") < 5
        assert await interrupt_sleep(km, kc, "signal") < 5

        await execute(kc, "x = 42")
        await km.restart_kernel()
        await kc.wait_for_ready(timeout=60)
        content, _ = await execute(kc, "x")
        assert content["status"] == "error"  # a fresh kernel

        for attempt in range(3):
            pid = provisioner._pid
            assert pid is not None
            await execute(kc, f"y = {attempt}")
            ssh_host.exec(["kill", "-9", str(pid)])
            await until(lambda old=pid: provisioner._pid not in (old, None), 30, "an auto-restart")
            await kc.wait_for_ready(timeout=60)
            content, _ = await execute(kc, "y")
            assert content["status"] == "error"  # a fresh kernel, answering again
        assert {n: getattr(km, n) for n in PORT_NAMES} == ports
        assert km.session.key == key

        assert await interrupt_sleep(km, kc, "message") < 5
    finally:
        kc.stop_channels()
        started = time.monotonic()
        await km.shutdown_kernel()
        shutdown_seconds = time.monotonic() - started
    assert shutdown_seconds < 5
    wait_for(lambda: user_processes(ssh_host.exec) == baseline, 10, "remote processes at baseline")
