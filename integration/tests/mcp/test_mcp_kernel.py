"""jupyssh-mcp's kernel tools end to end (acceptance 2 of the MCP issue): through the SDK's
stdio client, a kernel from a `jupyssh kernel add` spec starts on the sshd container, an
execute of ``time.sleep(30)`` returns a task id at once and reports progress, a cancel
interrupts the kernel, and the kernel then answers the next execute."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import SSHContainer
from mcp import Client
from mcp.types import ImageContent

from jupyssh.mcp.testing import tool_data as ok
from jupyssh.mcp.testing import tool_error as refused

from .conftest import Server, add_spec, mcp_client, wait_running, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

#: A 1x1 PNG, shown by the remote kernel as display_data.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)
PLOT = (
    "import base64\nfrom IPython.display import Image, display\n"
    f"display(Image(data=base64.b64decode('{PNG}'), format='png'))"
)


async def execute(client: Client, kernel_id: str, code: str) -> dict[str, Any]:
    """Run ``code`` and wait for its result; retried while the kernel still aborts the
    requests that reached it during an interrupt (ipykernel flushes its queue)."""
    deadline = time.monotonic() + 60
    while True:
        task = ok(await client.call_tool("kernel_execute", {"kernel_id": kernel_id, "code": code}))
        done = ok(await client.call_tool("task_wait", {"task_id": task["task_id"], "timeout": 30}))
        assert done["state"] == "completed", done
        if done["result"]["status"] != "aborted" or time.monotonic() > deadline:
            return dict(done["result"])


async def test_a_long_execute_is_a_task_and_its_cancel_interrupts_the_kernel(
    ssh_host: SSHContainer, home: Path
) -> None:
    server = write_settings(home, ssh_host)
    spec = add_spec(server, ssh_host, "mcp-py")
    async with mcp_client(server) as client:
        specs = ok(await client.call_tool("kernel_specs", {}))["specs"]
        assert [(row["name"], row["alias"], row["allowed"]) for row in specs] == [
            (spec, ssh_host.alias, True)
        ]
        kernel = ok(await client.call_tool("kernel_start", {"spec": spec}))
        kernel_id = kernel["kernel_id"]
        [connection_file] = (server.home / "rt").glob("kernel-*.json")
        key = json.loads(connection_file.read_text())["key"]
        results: list[str] = [json.dumps(kernel)]
        assert ok(await client.call_tool("kernel_list", {}))["kernels"] == [kernel]

        first = await execute(client, kernel_id, "print(6 * 7)")
        results.append(json.dumps(first))
        assert first["status"] == "ok"
        assert first["outputs"] == [{"type": "stream", "name": "stdout", "text": "42\n"}]

        started = time.monotonic()
        task = ok(
            await client.call_tool(
                "kernel_execute",
                {
                    "kernel_id": kernel_id,
                    "code": "import time\nprint('go', flush=True)\ntime.sleep(30)",
                },
            )
        )
        assert time.monotonic() - started < 5
        assert task["state"] == "running"
        await wait_running(client, task["task_id"])

        cancelled = ok(await client.call_tool("task_cancel", {"task_id": task["task_id"]}))
        assert cancelled["state"] == "cancelled"
        assert time.monotonic() - started < 20

        after = await execute(client, kernel_id, "print('alive')")
        assert after["status"] == "ok"
        assert after["outputs"] == [{"type": "stream", "name": "stdout", "text": "alive\n"}]
        # the sleep was interrupted, not finished: the kernel answered well before 30 s
        assert time.monotonic() - started < 28

        plot = ok(await client.call_tool("kernel_execute", {"kernel_id": kernel_id, "code": PLOT}))
        shown = await client.call_tool("task_wait", {"task_id": plot["task_id"], "timeout": 30})
        images = [block for block in shown.content if isinstance(block, ImageContent)]
        assert [(image.mime_type, image.data) for image in images] == [("image/png", PNG)]
        assert ok(shown)["result"]["outputs"] == [
            {"type": "image", "mime_type": "image/png", "data": PNG}
        ]

        error = await execute(client, kernel_id, "1/0")
        assert error["status"] == "error"
        assert error["outputs"][0]["ename"] == "ZeroDivisionError"

        results += [json.dumps(after), json.dumps(error), json.dumps(cancelled)]
        await execute(client, kernel_id, "before_restart = 1")
        restarted = ok(await client.call_tool("kernel_restart", {"kernel_id": kernel_id}))
        assert restarted["restarted"] is True
        gone = await execute(client, kernel_id, "before_restart")
        assert gone["status"] == "error"
        assert gone["outputs"][0]["ename"] == "NameError"
        shut = ok(await client.call_tool("kernel_shutdown", {"kernel_id": kernel_id}))
        assert shut["shut_down"] is True
        assert "no such kernel" in refused(
            await client.call_tool("kernel_interrupt", {"kernel_id": kernel_id})
        )
    # Acceptance 4 for kernels: the kernel's HMAC key is in no result and no log line.
    assert len(key) >= 16
    for text in [*results, server.audit_log.read_text(), server.stderr.read_text()]:
        assert key not in text


async def output_within(client: Client, kernel_id: str, code: str, seconds: float) -> str:
    """The stdout of ``code`` once an execute completes; executes whose output was lost
    while the link came back (zmq does not resend) are cancelled and tried again."""
    deadline = time.monotonic() + seconds
    while True:
        task = ok(await client.call_tool("kernel_execute", {"kernel_id": kernel_id, "code": code}))
        done = ok(await client.call_tool("task_wait", {"task_id": task["task_id"], "timeout": 10}))
        outputs = done.get("result", {}).get("outputs", [])
        if done["state"] == "completed" and done["result"]["status"] == "ok" and outputs:
            return "".join(str(o.get("text", "")) for o in outputs)
        if done["state"] == "running":
            await client.call_tool("task_cancel", {"task_id": task["task_id"]})
        assert time.monotonic() < deadline, f"no answer within {seconds} s: {done}"


def kernel_master(server: Server, host: SSHContainer) -> int | None:
    """The pid of the control master the kernel's spec rides (``ssh -O check``)."""
    done = subprocess.run(
        ["ssh", "-F", str(server.home / "ssh_config"), "-O", "check", host.alias],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    found = re.search(r"pid=(\d+)", done.stderr)
    return int(found.group(1)) if found else None


async def test_a_kernel_survives_a_network_drop_as_it_does_for_jupyterlab(
    cuttable_host: SSHContainer, home: Path
) -> None:
    """The host is cut off the network for 20 s while its kernel runs (a Wi-Fi drop): the
    master's keepalives go unanswered and it dies; once the network is back the same
    kernel answers through MCP with its state, as under JupyterLab (the provisioner's
    reconnection, kernel/test_kernel_resilience.py)."""
    server = write_settings(home, cuttable_host)
    spec = add_spec(server, cuttable_host, "mcp-cut")
    async with mcp_client(server) as client:
        kernel_id = ok(await client.call_tool("kernel_start", {"spec": spec}))["kernel_id"]
        code = "import os\nx = 'kept'\nprint(x, os.getpid())"
        before = await output_within(client, kernel_id, code, 30)
        assert before.split()[0] == "kept"
        master = kernel_master(server, cuttable_host)
        assert master is not None
        with cuttable_host.network_cut():
            await asyncio.sleep(20)
        after = await output_within(client, kernel_id, "print(x, os.getpid())", 90)
        assert after.split() == before.split()  # the same kernel process, its state kept
        # the link was really lost: the kernel's master died with it and another carries it
        assert kernel_master(server, cuttable_host) not in (None, master)
        assert ok(await client.call_tool("kernel_list", {}))["kernels"][0]["kernel_id"] == (
            kernel_id
        )
