"""The Slurm tools' remote half: jupyssh-kernel's launcher, run as a library by the few
lines ``scheduler_script`` adds, against stand-ins for sbatch, scontrol and scancel on
PATH (the real cluster is in integration/tests/mcp/test_mcp_slurm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyssh.mcp.providers.slurm import scheduler_script

# The stand-ins log their argv and answer as a small Slurm would: job 77 pending on
# Resources until scancel, then CANCELLED; the script sbatch got is kept for the test.
SBATCH = """#!/bin/sh
echo "sbatch $*" >> "$LOG"
for last; do :; done
cp "$last" "$KEPT"
echo "77;cluster"
"""
SCONTROL = """#!/bin/sh
echo "scontrol $*" >> "$LOG"
if [ "$4" != 77 ]; then echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
if [ -e "$CANCELLED" ]; then state=CANCELLED; reason=None; else state=PENDING; reason=Resources; fi
echo "JobId=77 JobName=x JobState=$state Reason=$reason NodeList=(null) Partition=debug"
"""
SCANCEL = """#!/bin/sh
echo "scancel $*" >> "$LOG"
touch "$CANCELLED"
"""


def run(tmp_path: Path, params: dict[str, Any]) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("sbatch", SBATCH), ("scontrol", SCONTROL), ("scancel", SCANCEL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(tmp_path / "log"),
        "KEPT": str(tmp_path / "kept.sh"),
        "CANCELLED": str(tmp_path / "cancelled"),
    }
    done = subprocess.run(
        [sys.executable, "-"],
        input=scheduler_script(params),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    [line] = [x for x in done.stdout.splitlines() if x.startswith("JUPYSSH-SLURM ")]
    return dict(json.loads(line.split(" ", 1)[1]))


def test_submit_runs_sbatch_with_the_kernel_options_flags_and_the_script(tmp_path: Path) -> None:
    options = {"partition": "debug", "time": "5", "cpus": 2, "mem": "", "sbatch_args": ["--x=1"]}
    script = "#!/bin/sh\n#SBATCH --comment=mine\necho hi\n"
    answer = run(tmp_path, {"op": "submit", "script": script, "name": "job1", "options": options})
    assert answer["job"] == "77"
    assert (answer["state"], answer["reason"], answer["waiting"]) == ("PENDING", "Resources", True)
    [sbatch, scontrol] = (tmp_path / "log").read_text().splitlines()
    assert sbatch.startswith(
        "sbatch --parsable --job-name=job1 --partition=debug --time=5 --cpus-per-task=2 --x=1 /"
    )
    assert scontrol == "scontrol show job -o 77"
    assert (tmp_path / "kept.sh").read_text() == script
    # the temporary script is gone once sbatch has it
    assert not Path(sbatch.rsplit(" ", 1)[1]).exists()


def test_status_and_cancel_say_the_state_the_reason_and_why_it_ended(tmp_path: Path) -> None:
    assert run(tmp_path, {"op": "status", "job_id": "77"})["reason"] == "Resources"
    cancelled = run(tmp_path, {"op": "cancel", "job_id": "77"})
    assert cancelled["state"] == "CANCELLED"
    assert cancelled["message"] == "job 77 ended: it was cancelled"
    assert "scancel 77" in (tmp_path / "log").read_text()


def test_an_unknown_job_is_the_schedulers_own_words(tmp_path: Path) -> None:
    gone = run(tmp_path, {"op": "status", "job_id": "5"})
    assert gone["state"] == "GONE"
    assert "Invalid job id specified" in gone["message"]
    refused = run(tmp_path, {"op": "cancel", "job_id": "5"})
    assert refused["error"] == "scheduler-unknown-job"
    assert "scancel" not in (tmp_path / "log").read_text()


@pytest.mark.parametrize("word", ["--ok=1 --two", "positional", "-x"])
def test_sbatch_args_that_are_not_long_options_are_refused(word: str) -> None:
    from jupyssh.core.errors import ConfigError
    from jupyssh.mcp.providers.slurm import _sbatch_args

    with pytest.raises(ConfigError, match="invalid sbatch argument"):
        _sbatch_args([word])


class ClusterHost:
    """A login node whose python3 answers the scheduler script with ``stdout``."""

    def __init__(self, stdout: bytes, stderr: bytes = b"", status: int = 0) -> None:
        self.answer = (stdout, stderr, status)
        self.scripts: list[str] = []

    async def start_master(self) -> int:
        return 1

    async def run_script(self, script: str, **kwargs: Any) -> Any:
        from jupyssh.core.process import Completed

        self.scripts.append(script)
        return Completed(("ssh",), self.answer[2], self.answer[0], self.answer[1])

    async def close(self) -> None:
        return None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        (
            b'JUPYSSH-SLURM {"error": "scheduler-submit", "message": "sbatch refused: no"}\n',
            b"",
            "sbatch refused: no [lab]",
        ),
        (b"", b"bash: python3: command not found\n", "python3: command not found"),
    ],
)
async def test_a_scheduler_failure_is_one_clear_tool_error(
    tmp_path: Path, stdout: bytes, stderr: bytes, message: str
) -> None:
    from mcp import Client

    from jupyssh.mcp.providers import slurm
    from jupyssh.mcp.server import serving
    from jupyssh.mcp.settings import Settings
    from jupyssh.mcp.testing import tool_error

    host = ClusterHost(stdout, stderr, 0 if stdout else 127)
    settings = Settings(allow=frozenset({"lab"}), audit_log=tmp_path / "audit.log")
    async with (
        serving(settings, providers={"slurm": slurm.register}, host_factory=lambda *_: host) as (
            server,
            _,
        ),
        Client(server) as client,
    ):
        text = tool_error(await client.call_tool("slurm_submit", {"alias": "lab", "script": "x"}))
    assert message in text
    # the script went on stdin: its text is the launcher's plus the operation's
    [script] = host.scripts
    assert "class Slurm" in script
    assert '"op": "submit"' in script
