"""jupyssh-mcp's Slurm tools end to end, through the SDK's stdio client, on the harness's
real Slurm cluster (login, c1, c2): a job runs on a compute node and its output is on the
shared /home; a job that waits says the scheduler's reason and is cancelled; Slurm's own
refusals come back as clear tool errors (acceptance 1, 3); a Slurm kernel starts through
the kernel tools as a task whose progress is its job's state and reason, runs on a compute
node and leaves no job behind. No token or key in a result or a log line (4)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import (
    COMPUTE_NODES,
    LOGIN_NODE,
    ArgvWatch,
    SlurmCluster,
    lines_with,
    wait_for,
)
from mcp import Client

from jupyssh.mcp.testing import tool_data as ok
from jupyssh.mcp.testing import tool_error as refused

from .conftest import Server, add_spec, mcp_client, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

VENV_PYTHON = "/opt/venv/bin/python"
#: A secret in a job script: it travels on stdin into a private file, never in an argv.
SCRIPT_TOKEN = "5ec2e7f00dcafe0123456789abcdef01"
WHERE = "import os, socket; print(socket.gethostname(), os.environ['SLURM_JOB_ID'])"


async def call(client: Client, seen: list[str], tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    seen.append(json.dumps(result.model_dump(mode="json")))
    return result


async def status_until(
    client: Client,
    alias: str,
    job_id: str,
    states: set[str],
    *,
    timeout: float = 60,
    reasons: tuple[str, ...] = (),
) -> dict[str, Any]:
    """slurm_status, polled (bounded) until the job is in one of ``states`` (and, when
    ``reasons`` are given, waits for one of them: a fresh job's reason is empty)."""
    deadline = time.monotonic() + timeout
    while True:
        status = ok(await client.call_tool("slurm_status", {"alias": alias, "job_id": job_id}))
        if status["state"] in states and (not reasons or status["reason"] in reasons):
            return dict(status)
        assert time.monotonic() < deadline, f"job {job_id} still {status['state']}"
        await asyncio.sleep(0.5)


async def test_jobs_are_submitted_followed_with_their_reason_and_cancelled(
    slurm_cluster: SlurmCluster, home: Path
) -> None:
    login, seen = slurm_cluster.login, []
    alias = login.alias
    out = slurm_cluster.home / "sandbox" / "mcp-job.out"
    out.unlink(missing_ok=True)
    server = write_settings(home, login)
    script = (
        "#!/bin/sh\n#SBATCH --output=/dev/null\n"
        f"# fetched from http://h:8888/?token={SCRIPT_TOKEN}\nhostname > $HOME/mcp-job.out\n"
    )
    async with mcp_client(server) as client:
        with ArgvWatch(containers=[login.container], interval=0.02) as watch:
            job = ok(
                await call(
                    client, seen, "slurm_submit", alias=alias, name="mcp-ok", time="5",
                    script=script,
                )
            )  # fmt: skip
        assert watch.samples > 0
        assert watch.holding([SCRIPT_TOKEN]) == []
        assert job["job"].isdigit()
        assert job["alias"] == alias
        done = await status_until(client, alias, job["job"], {"COMPLETED"})
        assert done["message"] == f"job {job['job']} ended: it completed"
        assert done["nodes"] in COMPUTE_NODES
        assert out.read_text().strip() == done["nodes"]

        sleepers = slurm_cluster.fill_nodes()
        queued = ok(
            await call(
                client, seen, "slurm_submit", alias=alias, script="sleep 100", cpus=2, time="5"
            )
        )
        status = await status_until(
            client, alias, queued["job"], {"PENDING"}, reasons=("Resources", "Priority")
        )
        assert status["waiting"] is True
        assert [j.state for j in slurm_cluster.jobs() if j.job_id == queued["job"]] == ["PENDING"]
        cancelled = ok(await call(client, seen, "slurm_cancel", alias=alias, job_id=queued["job"]))
        assert cancelled["state"] == "CANCELLED"
        assert cancelled["message"].startswith(f"job {queued['job']} ended: it was cancelled")
        assert sorted(j.job_id for j in slurm_cluster.jobs()) == sorted(sleepers)

        submitted_before = len(slurm_cluster.jobs())
        for tool, args, message in [
            ("slurm_submit", {"script": "true", "partition": "nope"}, "Invalid partition name"),
            ("slurm_submit", {"script": "  "}, "the job script is empty"),
            ("slurm_submit", {"script": "true", "sbatch_args": ["x.sh"]}, "invalid sbatch"),
            ("slurm_status", {"job_id": "1; scancel -u sandbox"}, "job id is digits"),
            ("slurm_cancel", {"job_id": "999999"}, "no such job"),
        ]:
            text = refused(await call(client, seen, tool, alias=alias, **args))
            assert message in text, text
        assert len(slurm_cluster.jobs()) == submitted_before
        assert "not on the MCP allowlist" in refused(
            await call(client, seen, "slurm_status", alias="not-listed", job_id="1")
        )
    async with mcp_client(server, "--read-only") as client:
        text = refused(await call(client, seen, "slurm_submit", alias=alias, script="true"))
        assert "read-only mode" in text
        gone = ok(await call(client, seen, "slurm_status", alias=alias, job_id=queued["job"]))
        assert gone["state"] == "CANCELLED"
    assert sorted(j.job_id for j in slurm_cluster.jobs()) == sorted(sleepers)
    scan(server, seen, [SCRIPT_TOKEN])


async def test_a_slurm_kernel_starts_as_a_task_and_says_why_it_waits(
    slurm_cluster: SlurmCluster, home: Path
) -> None:
    login, seen = slurm_cluster.login, []
    server = write_settings(home, login)
    spec = add_spec(
        server, login, "mcp-slurm",
        "--remote-python", VENV_PYTHON, "--remote-kernel", "python3",
        "--scheduler", "slurm", "--partition", "debug", "--cpus", "1", "--time", "10",
    )  # fmt: skip
    async with mcp_client(server) as client:
        [row] = ok(await call(client, seen, "kernel_specs"))["specs"]
        assert (row["name"], row["scheduler"], row["allowed"]) == (spec, "slurm", True)

        # Both nodes busy: the start queues, its task says the job's state and reason.
        sleepers = slurm_cluster.fill_nodes()
        task = ok(await call(client, seen, "kernel_start", spec=spec, wait=False, timeout=300))
        assert task["state"] == "running"
        deadline = time.monotonic() + 60
        while True:  # the job's first state comes before Slurm gives a reason
            progress = ok(await call(client, seen, "task_status", **_id(task))).get("progress")
            message = str((progress or {}).get("message"))
            if re.search(r"job \d+ pending \((Resources|Priority)\)", message):
                break
            assert time.monotonic() < deadline, f"no pending reason in the progress: {progress}"
            await asyncio.sleep(0.5)
        cancelled = ok(await call(client, seen, "task_cancel", **_id(task)))
        assert cancelled["state"] == "cancelled"
        wait_for(
            lambda: sorted(j.job_id for j in slurm_cluster.jobs()) == sorted(sleepers),
            30,
            "the queued kernel's job gone",
        )

        # A node freed: the next start runs on it, in its own job.
        slurm_cluster.node_exec(LOGIN_NODE, ["scancel", *sleepers])
        task = ok(await call(client, seen, "kernel_start", spec=spec, wait=False, timeout=300))
        done = ok(await call(client, seen, "task_wait", timeout=90, **_id(task)))
        assert done["state"] == "completed", done
        kernel = done["result"]
        [connection_file] = (server.home / "rt").glob("kernel-*.json")
        key = json.loads(connection_file.read_text())["key"]
        assert kernel["node"] in COMPUTE_NODES
        assert [j.job_id for j in slurm_cluster.jobs()] == [kernel["job"]]
        run = ok(
            await call(client, seen, "kernel_execute", kernel_id=kernel["kernel_id"], code=WHERE)
        )
        ran = ok(await call(client, seen, "task_wait", timeout=60, **_id(run)))
        [output] = ran["result"]["outputs"]
        assert output["text"].split() == [kernel["node"], kernel["job"]]
        ok(await call(client, seen, "kernel_shutdown", kernel_id=kernel["kernel_id"]))
        wait_for(lambda: not slurm_cluster.jobs(), 30, "no job left after the shutdown")
    scan(server, seen, [key])


def _id(task: dict[str, Any]) -> dict[str, str]:
    return {"task_id": task["task_id"]}


def scan(server: Server, results: list[str], secrets: list[str]) -> None:
    """Acceptance 4: no secret in a result, the audit log or the server's stderr."""
    logs = [server.audit_log.read_text(), server.stderr.read_text()]
    assert "slurm_" in logs[0] or "kernel_start" in logs[0]
    assert all(len(secret) >= 16 for secret in secrets)
    for text in [*results, *logs]:
        assert not lines_with(text, secrets)
