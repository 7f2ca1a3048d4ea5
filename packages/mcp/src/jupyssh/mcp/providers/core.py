"""jupyssh-core's tools: the ssh hosts (list, check) and commands on them.

Every alias goes through the allowlist (:class:`jupyssh.mcp.hosts.HostPool`); commands
ride the alias's control master (started once, shared by every later call, stopped when
the server stops) and are bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from jupyssh.core.errors import ConfigError, JupysshError, OperationTimeoutError
from jupyssh.mcp.hosts import config_aliases
from jupyssh.mcp.output import capped
from jupyssh.mcp.tasks import Reporter
from jupyssh.mcp.toolset import Services, ToolSet

__all__ = ["register"]

#: Longest timeout a command may ask for (a longer job belongs to a scheduler).
MAX_TIMEOUT = 24 * 3600.0
#: How often a running command task reports that it is still running.
_TICK = 1.0


def register(tools: ToolSet) -> None:
    """Add the host and command tools."""
    core = _CoreTools(tools.services)
    tools.add(core.hosts_list, read_only=True)
    tools.add(core.host_check, read_only=True)
    tools.add(core.command_run, read_only=False)
    tools.add(core.command_start, read_only=False)


class _CoreTools:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def hosts_list(self) -> dict[str, Any]:
        """List the ssh aliases of the user's ssh config, each with whether the MCP
        allowlist lets tools reach it (only allowed aliases can be checked or used)."""
        settings = self.services.settings
        in_config = config_aliases(settings.ssh_config)
        hosts = [{"alias": a, "allowed": settings.allowed(a), "in_config": True} for a in in_config]
        hosts += [
            {"alias": a, "allowed": True, "in_config": False}
            for a in sorted(settings.allow - set(in_config))
        ]
        return {"hosts": hosts, "read_only": settings.read_only}

    async def host_check(self, alias: str) -> dict[str, Any]:
        """Check that an allowed ssh alias is reachable: resolve it with `ssh -G`, start
        (or reuse) its control master and run `true` through it."""
        host = self.services.hosts.get(alias)
        config = await host.config()
        facts: dict[str, Any] = {
            "alias": alias,
            "user": config.user,
            "hostname": config.hostname,
            "port": config.port,
            "proxy_jump": [str(jump) for jump in config.proxy_jump],
        }
        started = time.monotonic()
        try:
            facts["master_pid"] = await host.start_master()
            done = await host.run(["true"], timeout=30, check=False)
        except JupysshError as exc:
            return {**facts, "reachable": False, "error": exc.kind, "message": str(exc)}
        seconds = round(time.monotonic() - started, 3)
        return {**facts, "reachable": done.returncode == 0, "seconds": seconds}

    async def command_run(self, alias: str, command: str, timeout: float = 60.0) -> dict[str, Any]:
        """Run a shell command line on an allowed ssh alias through its control master
        and wait for it (at most `timeout` seconds, then it is killed). Returns the exit
        status and stdout and stderr apart, each capped (the cut is said). For longer
        work use command_start."""
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ConfigError(f"timeout must be between 0 and {MAX_TIMEOUT:g} seconds")
        if not command.strip():
            raise ConfigError("the command is empty")
        host = self.services.hosts.get(alias)
        started = time.monotonic()
        await host.start_master()
        try:
            # core stops a bounded command on the host too, through the master started here
            done = await host.run(["sh", "-c", command], timeout=timeout, check=False)
        except OperationTimeoutError as exc:
            raise OperationTimeoutError(
                f"the command did not finish within {timeout:g} s and was killed",
                hint="raise the timeout, or run it as a task with command_start",
            ) from exc
        limit = self.services.settings.max_output_bytes
        return {
            "alias": alias,
            "exit_status": done.returncode,
            **capped("stdout", done.stdout, limit),
            **capped("stderr", done.stderr, limit),
            "seconds": round(time.monotonic() - started, 3),
        }

    async def command_start(
        self, alias: str, command: str, timeout: float = 3600.0
    ) -> dict[str, Any]:
        """Start a shell command line on an allowed ssh alias as a task and return its
        task id at once; follow it with task_status / task_wait, stop it with
        task_cancel. Its result is command_run's."""
        self.services.hosts.get(alias)  # refuse a disallowed alias now, not in the task

        async def work(report: Reporter) -> dict[str, Any]:
            runner = asyncio.ensure_future(self.command_run(alias, command, timeout))
            started = time.monotonic()
            try:
                while not runner.done():
                    await asyncio.wait({runner}, timeout=_TICK)
                    elapsed = time.monotonic() - started
                    report(elapsed, timeout, f"running for {elapsed:.0f} s")
            finally:
                if not runner.done():  # cancelled: the ssh process is killed, and waited for
                    runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await runner
            return runner.result()

        return self.services.tasks.start("command_start", work).to_dict()
