"""The launcher's scheduler path against stand-in Slurm programs (salloc, scontrol, srun,
scancel, sinfo) that run the job step here: submit, queued events with the reason, the
kernel ready on the node's address, signals through the keeper, the end with the job's
state, and the job cancelled whenever the launcher owns it."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from jupyssh.kernel.provisioner import job_summary
from jupyssh.kernel.remote_launcher import LaunchError, Slurm

from .test_remote_launcher import KEY, Launcher, alive

# A job whose state a test sets in $FAKE_SLURM/state (PENDING, RUNNING, TIMEOUT ...) with a
# reason in $FAKE_SLURM/reason; every call is logged to $FAKE_SLURM/calls.
FAKE_PROGRAMS = {
    "salloc": """
echo "salloc $*" >>"$FAKE_SLURM/calls"
case "$*" in *--partition=nope*) echo "salloc: error: invalid partition specified: nope" >&2
    echo "salloc: error: Job submit/allocate failed: Invalid partition name specified" >&2
    exit 1;; esac
echo "salloc: Pending job allocation 42" >&2
echo "salloc: job 42 queued and waiting for resources" >&2
for _ in $(seq 600); do [ "$(cat "$FAKE_SLURM/state")" = PENDING ] || break; sleep 0.05; done
case "$(cat "$FAKE_SLURM/state")" in
    RUNNING) echo "salloc: Granted job allocation 42" >&2;;
    *) echo "salloc: Job allocation 42 has been revoked." >&2; exit 1;;
esac
""",
    "sbatch": """
echo "sbatch $*" >>"$FAKE_SLURM/calls"
case "$*" in *--partition=nope*)
    echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2
    exit 1;; esac
echo "43;cluster"
""",
    "scontrol": """
echo "scontrol $*" >>"$FAKE_SLURM/calls"
if [ "$1 $2" = "show hostnames" ]; then echo localhost; exit 0; fi
state=$(cat "$FAKE_SLURM/state"); reason=$(cat "$FAKE_SLURM/reason" 2>/dev/null || echo None)
nodes="(null)"; [ "$state" = PENDING ] || nodes=localhost
echo "JobId=42 JobName=jupyssh-sleeper JobState=$state Reason=$reason NodeList=$nodes"
""",
    "scancel": """
echo "scancel $*" >>"$FAKE_SLURM/calls"
echo CANCELLED >"$FAKE_SLURM/state"
""",
    "srun": """
echo "srun $*" >>"$FAKE_SLURM/calls"
while [ "$1" != "--" ]; do shift; done
shift
exec "$@"
""",
    "sinfo": """
echo "debug*|up|1:00:00|2|2|1000|(null)"
""",
}


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "fake-slurm"
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in FAKE_PROGRAMS.items():
        program = bin_dir / name
        program.write_text("#!/bin/sh\n" + body)
        program.chmod(0o755)
    (folder / "state").write_text("PENDING\n")
    (folder / "reason").write_text("Resources\n")
    monkeypatch.setenv("FAKE_SLURM", str(folder))
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")
    return folder


def calls(folder: Path, program: str) -> list[str]:
    path = folder / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if line.startswith(program + " ")]


def slurm_params(**extra: Any) -> dict[str, Any]:
    return {
        "mode": "start",
        "kernel": "sleeper",
        "key": KEY,
        "scheduler": "slurm",
        "partition": "debug",
        "cpus": 1,
        "time": "10",
        **extra,
    }


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_queued_job_reports_its_reason_then_runs_the_kernel_on_the_node(
    fake_slurm: Path,
) -> None:
    launcher = Launcher(slurm_params())
    assert launcher.event().facts == {"job": "42"}  # submitted
    queued = launcher.event()
    assert queued.name == "queued"
    assert (queued.facts["state"], queued.facts["reason"]) == ("PENDING", "Resources")
    (fake_slurm / "reason").write_text("Priority\n")
    assert launcher.event().facts["reason"] == "Priority"  # a change of reason is shown
    (fake_slurm / "state").write_text("RUNNING\n")
    (fake_slurm / "reason").write_text("None\n")
    ready = launcher.event()
    assert ready.name == "ready", ready.facts
    assert ready.facts["job"] == "42"
    assert ready.facts["node"] == "localhost"
    assert ready.facts["connection"]["ip"] == "127.0.0.1"  # the node's address
    assert "key" not in ready.facts["connection"]
    (salloc,) = calls(fake_slurm, "salloc")
    assert "--no-shell" in salloc
    assert "--partition=debug" in salloc
    assert "--cpus-per-task=1" in salloc
    assert "--time=10" in salloc
    assert KEY not in salloc
    (srun,) = calls(fake_slurm, "srun")
    assert "--jobid=42" in srun
    assert "--overlap" in srun
    assert KEY not in srun
    launcher.send("attached")
    launcher.send(f"signal {signal.SIGTERM}")  # through the keeper to the node's launcher
    ended = launcher.event()
    assert ended.name == "exit"
    assert ended.facts["code"] == -signal.SIGTERM
    assert calls(fake_slurm, "scancel") == ["scancel 42"]
    launcher.close()
    assert not Path(ready.facts["folder"]).exists()


@pytest.mark.usefixtures("jupyter_dirs")
def test_the_end_of_the_session_while_pending_cancels_the_job(fake_slurm: Path) -> None:
    launcher = Launcher(slurm_params())
    assert launcher.event().name == "submitted"
    assert launcher.event().name == "queued"
    assert launcher.close() == 3
    assert calls(fake_slurm, "scancel") == ["scancel 42"]


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_refused_submission_is_the_schedulers_own_words(fake_slurm: Path) -> None:
    launcher = Launcher(slurm_params(partition="nope"))
    event = launcher.event()
    assert event.name == "error"
    assert event.facts["kind"] == "scheduler-submit"
    assert event.facts["message"] == (
        "salloc refused the job: "
        "salloc: error: Job submit/allocate failed: Invalid partition name specified"
    )
    assert launcher.close() == 3
    assert calls(fake_slurm, "srun") == []


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_job_that_ends_while_queued_says_why(fake_slurm: Path) -> None:
    (fake_slurm / "state").write_text("CANCELLED\n")
    launcher = Launcher(slurm_params())
    assert launcher.event().name == "submitted"
    event = launcher.event()
    assert event.name == "error"
    assert event.facts["message"] == "job 42 ended: it was cancelled (Resources)"
    launcher.close()


@pytest.mark.usefixtures("jupyter_dirs")
def test_the_queue_timeout_cancels_a_job_still_pending(fake_slurm: Path) -> None:
    launcher = Launcher(slurm_params(queue_timeout=0.5))
    assert launcher.event().name == "submitted"
    assert launcher.event().name == "queued"
    event = launcher.event()
    assert event.facts["kind"] == "queue-timeout"
    assert event.facts["message"] == "job 42 still pending after 0 s (Resources)"
    launcher.close()
    assert calls(fake_slurm, "scancel") == ["scancel 42"]


@pytest.mark.usefixtures("jupyter_dirs")
def test_an_existing_allocation_is_used_and_left_alone(fake_slurm: Path) -> None:
    (fake_slurm / "state").write_text("RUNNING\n")
    launcher = Launcher(slurm_params(jobid="42"))
    ready = launcher.event()
    assert ready.name == "ready", ready.facts
    assert calls(fake_slurm, "salloc") == []
    launcher.send("attached")
    launcher.send(f"signal {signal.SIGKILL}")
    ended = launcher.event()
    assert ended.name == "exit"
    assert ended.facts["kept_job"] is True
    launcher.close()
    assert calls(fake_slurm, "scancel") == []


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_job_ended_by_its_time_limit_reports_the_state(fake_slurm: Path) -> None:
    (fake_slurm / "state").write_text("RUNNING\n")
    launcher = Launcher(slurm_params())
    assert launcher.event().name == "submitted"
    ready = launcher.event()
    assert ready.name == "ready", ready.facts
    launcher.send("attached")
    (fake_slurm / "state").write_text("TIMEOUT\n")
    (fake_slurm / "reason").write_text("TimeLimit\n")
    node_pid = int(ready.facts["node_pid"]) if "node_pid" in ready.facts else None
    assert node_pid is None or alive(node_pid)
    # Slurm ends the step at the time limit: here, the stand-in srun's kernel is killed.
    launcher.send(f"signal {signal.SIGKILL}")
    ended = launcher.event()
    assert ended.facts["state"] == "TIMEOUT"
    assert ended.facts["message"] == "job 42 ended: its time limit was reached (TimeLimit)"
    launcher.close()


def test_partitions_are_listed_with_their_limits(fake_slurm: Path) -> None:
    launcher = Launcher({"mode": "specs"})
    event = launcher.event()
    assert event.facts["partitions"] == [
        {
            "name": "debug*",
            "state": "up",
            "time_limit": "1:00:00",
            "nodes": "2",
            "cpus": "2",
            "memory_mb": "1000",
            "gres": "(null)",
        }
    ]
    launcher.close()


def test_the_bootstrap_has_one_home() -> None:
    from jupyssh.kernel import protocol, remote_launcher

    assert protocol.BOOTSTRAP is remote_launcher.BOOTSTRAP
    assert protocol.PREFIX == remote_launcher.PREFIX
    assert json.dumps(remote_launcher.BOOTSTRAP)  # plain text for argv


@pytest.mark.usefixtures("jupyter_dirs")
def test_unset_options_are_left_to_the_cluster(fake_slurm: Path) -> None:
    """cpus 0 and empty strings mean "the cluster's default": no flag at all (Slurm
    refuses --cpus-per-task=0)."""
    (fake_slurm / "state").write_text("RUNNING\n")
    launcher = Launcher(slurm_params(cpus=0, time="", partition="", mem=""))
    assert launcher.event().name == "submitted"
    assert launcher.event().name == "ready"
    (salloc,) = calls(fake_slurm, "salloc")
    (srun,) = calls(fake_slurm, "srun")
    for flag in ("--cpus-per-task", "--time", "--partition", "--mem"):
        assert flag not in salloc
    assert "--cpus-per-task" not in srun
    launcher.send("attached")
    launcher.send(f"signal {signal.SIGKILL}")
    assert launcher.event().name == "exit"
    launcher.close()


@pytest.mark.usefixtures("jupyter_dirs")
def test_a_job_that_can_never_start_is_cancelled_with_slurms_reason(fake_slurm: Path) -> None:
    (fake_slurm / "reason").write_text("PartitionConfig\n")
    launcher = Launcher(slurm_params(cpus=64))
    assert launcher.event().name == "submitted"
    event = launcher.event()
    while event.name == "queued":
        event = launcher.event()
    assert event.facts["kind"] == "scheduler-refused"
    assert event.facts["message"] == (
        "job 42 can never start: it asks for more than the partition's nodes have "
        "(Slurm's reason: PartitionConfig)"
    )
    launcher.close()
    assert calls(fake_slurm, "scancel") == ["scancel 42"]


def test_job_summary_says_submitted_then_state_and_reason() -> None:
    assert job_summary({"event": "submitted", "job": "42"}, "login") == "job 42 submitted to login"
    queued = {"event": "queued", "job": "42", "state": "PENDING", "reason": "Resources"}
    assert job_summary(queued, "login") == "job 42 pending (Resources)"
    assert job_summary({"event": "queued", "job": "42", "state": "PENDING", "reason": ""}, "h") == (
        "job 42 pending (no reason given)"
    )


def test_a_batch_job_takes_the_same_request_flags(fake_slurm: Path, tmp_path: Path) -> None:
    """The MCP tools' user jobs: sbatch with the kernel options' flags, then the script."""
    script = tmp_path / "job.sh"
    options = {"partition": "debug", "time": "5", "cpus": 0, "sbatch_args": ["--exclusive"]}
    assert Slurm().submit_batch(options, "mine", str(script)) == "43"
    (sbatch,) = calls(fake_slurm, "sbatch")
    assert (
        sbatch
        == f"sbatch --parsable --job-name=mine --partition=debug --time=5 --exclusive {script}"
    )
    with pytest.raises(LaunchError) as refused:
        Slurm().submit_batch({"partition": "nope"}, "mine", str(script))
    assert refused.value.message == (
        "sbatch refused the job: "
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
