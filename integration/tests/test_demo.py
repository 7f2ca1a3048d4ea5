"""The README's first command ends in ``python -m jupyssh_harness demo``: it must run every
step against a real sandbox and leave no container behind."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from jupyssh_harness import SANDBOX_LABEL, BuiltImage
from jupyssh_harness.demo import STEPS
from jupyssh_harness.engine import docker_client

pytestmark = pytest.mark.integration


def _sandbox_containers() -> list[str]:
    client = docker_client()
    try:
        found = client.containers.list(all=True, filters={"label": f"{SANDBOX_LABEL}=1"})
        return [container.name for container in found]
    finally:
        client.close()


@pytest.mark.timeout(600)
def test_demo_runs_every_step_and_cleans_up(harness_images: dict[str, BuiltImage]) -> None:
    assert harness_images  # images ready: the demo's own prepare is a no-op
    before = _sandbox_containers()
    done = subprocess.run(
        [sys.executable, "-m", "jupyssh_harness", "demo"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in STEPS:
        assert f"== jupyssh-{step}:" in done.stdout
    assert "all steps ran; sandbox removed" in done.stderr
    # the kernel step's cell ran on a compute node of the sandbox cluster, in a job
    assert re.search(r"^c[12] 3\.\d+\.\d+ job \d+$", done.stdout, re.MULTILINE), done.stdout
    assert set(_sandbox_containers()) <= set(before)  # it may remove an orphan, never add
