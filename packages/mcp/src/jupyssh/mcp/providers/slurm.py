"""Slurm jobs on an allowed alias (a cluster's login node): submit, status with the
scheduler's reason, cancel. Added with the kernel tools (jupyssh-kernel brings Slurm).

The scheduler commands and the reading of their answers are jupyssh-kernel's own: the
``Slurm`` class of its remote launcher (``submit_batch``, ``scontrol show job -o``,
``scancel``, the job states and reasons it knows). The launcher's text is shipped on the
ssh session's stdin with a few lines that call that class for one operation, on the login
node, where the scheduler's programs are; the answer comes back as one JSON line. Only a
job's id and the user's script (on stdin, into a private temporary file) travel, never in
an argv.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jupyssh.core.errors import ConfigError
from jupyssh.kernel.watcher import launcher_source
from jupyssh.mcp.errors import SchedulerError
from jupyssh.mcp.toolset import Services, ToolSet

__all__ = ["register", "scheduler_script"]

#: How long one scheduler operation may take (sbatch and scontrol answer in seconds).
_TIMEOUT = 60.0
_JOB_ID = re.compile(r"\d+(_\d+)?")
_MARK = "JUPYSSH-SLURM "

# Runs on the login node's python3 (3.7+), after the launcher's text. The launcher is run
# as a library (its own main runs only under its two names); a user's job goes through
# its Slurm.submit_batch, with the same request flags as a kernel's allocation.
_DRIVER = """
import json, os, sys, tempfile
_ns = {"__name__": "jupyssh_scheduler"}
exec(compile(_SOURCE, "jupyssh-launcher", "exec"), _ns)
Slurm, LaunchError = _ns["Slurm"], _ns["LaunchError"]
NEVER_STARTS = _ns["NEVER_STARTS"]


def state(job_id):
    job = Slurm().state(job_id)
    facts = job.facts()
    facts.update(waiting=job.waiting, running=job.running)
    if job.state == "GONE":
        facts["message"] = "the scheduler no longer knows the job: " + job.reason
    elif not (job.waiting or job.running):
        facts["message"] = job.ended_message()
    elif job.reason in NEVER_STARTS:
        facts["message"] = "it can never start: " + NEVER_STARTS[job.reason]
    return facts


def main(params):
    op = params["op"]
    if op == "submit":
        handle, path = tempfile.mkstemp(prefix="jupyssh-job-", suffix=".sh")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(params["script"])
            job_id = Slurm().submit_batch(params["options"], params["name"], path)
        finally:
            os.unlink(path)
        return state(job_id)
    if op == "status":
        return state(params["job_id"])
    if op == "cancel":
        before = Slurm().state(params["job_id"])
        if before.state == "GONE":
            raise LaunchError("scheduler-unknown-job", "no such job: " + before.reason)
        Slurm().cancel(params["job_id"])
        return state(params["job_id"])
    raise LaunchError("protocol", "unknown operation " + op)


try:
    _answer = main(_PARAMS)
except LaunchError as exc:
    _answer = {"error": exc.kind, "message": exc.message}
sys.stdout.write(_MARK + json.dumps(_answer) + "\\n")
"""


def scheduler_script(params: dict[str, Any]) -> str:
    """The Python text that runs one scheduler operation on the login node."""
    return (
        "import json\n"
        f"_SOURCE = {launcher_source()!r}\n"
        f"_PARAMS = json.loads({json.dumps(params)!r})\n"
        f"_MARK = {_MARK!r}\n" + _DRIVER
    )


def register(tools: ToolSet) -> None:
    """Add the Slurm job tools."""
    jobs = _SlurmTools(tools.services)
    tools.add(jobs.slurm_submit, read_only=False)
    tools.add(jobs.slurm_status, read_only=True)
    tools.add(jobs.slurm_cancel, read_only=False)


class _SlurmTools:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _run(self, alias: str, params: dict[str, Any]) -> dict[str, Any]:
        host = self.services.hosts.get(alias)
        await host.start_master()
        done = await host.run_script(
            scheduler_script(params), interpreter=("python3", "-"), timeout=_TIMEOUT, check=False
        )
        lines = [line for line in done.stdout_text.splitlines() if line.startswith(_MARK)]
        if not lines:
            tail = (done.stderr_text.strip().splitlines() or ["(no output)"])[-1]
            raise SchedulerError(
                f"the scheduler operation did not answer (exit {done.returncode}): {tail}",
                where=alias,
                hint="is python3 on the login node's PATH?",
            )
        answer: dict[str, Any] = json.loads(lines[-1][len(_MARK) :])
        if "error" in answer:
            raise SchedulerError(answer["message"], where=alias, reason=str(answer["error"]))
        return {"alias": alias, **answer}

    async def slurm_submit(
        self,
        alias: str,
        script: str,
        *,
        name: str = "jupyssh-job",
        partition: str = "",
        time: str = "",
        cpus: int = 0,
        mem: str = "",
        gpus: str = "",
        account: str = "",
        qos: str = "",
        constraint: str = "",
        sbatch_args: list[str] | None = None,
    ) -> dict[str, Any]:
        """Submit a batch job on an allowed alias (a Slurm login node): `script` is the
        job script (#SBATCH lines allowed); the other arguments are sbatch's (empty: the
        cluster's default). Returns the job id and its state as status gives it."""
        if not script.strip():
            raise ConfigError("the job script is empty", hint="nothing was submitted")
        if not re.fullmatch(r"[\w.-]{1,64}", name):
            raise ConfigError("a job name is letters, digits, '.', '_' or '-'", where=name)
        options: dict[str, Any] = {
            "partition": partition,
            "time": time,
            "cpus": cpus,
            "mem": mem,
            "gpus": gpus,
            "account": account,
            "qos": qos,
            "constraint": constraint,
        }
        options["sbatch_args"] = _sbatch_args(sbatch_args or [])
        body = script if script.startswith("#!") else "#!/bin/sh\n" + script
        return await self._run(
            alias, {"op": "submit", "script": body, "name": name, "options": options}
        )

    async def slurm_status(self, alias: str, job_id: str) -> dict[str, Any]:
        """A job's state (PENDING, RUNNING, COMPLETED …), the scheduler's reason (why it
        waits: Resources, Priority …), its nodes, and a message once it ended."""
        return await self._run(alias, {"op": "status", "job_id": _job_id(job_id)})

    async def slurm_cancel(self, alias: str, job_id: str) -> dict[str, Any]:
        """Cancel a job (scancel); returns its state afterwards."""
        return await self._run(alias, {"op": "cancel", "job_id": _job_id(job_id)})


def _job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise ConfigError("a Slurm job id is digits (an array task: 123_4)", where=job_id)
    return job_id


def _sbatch_args(words: list[str]) -> list[str]:
    """sbatch options only: a word that is not an option would be taken as the script."""
    for word in words:
        if not word.startswith("--") or any(ch.isspace() for ch in word):
            raise ConfigError(
                f"invalid sbatch argument {word!r}",
                hint="give long options, one word each (--reservation=R)",
            )
    return words
