"""Fakes for the MCP server's unit tests: hosts that record what they were asked and
answer as told, and an in-process client of the SDK's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client

from jupyssh.core.errors import OperationTimeoutError
from jupyssh.core.process import Completed
from jupyssh.core.ssh import HostConfig
from jupyssh.mcp.providers.core import register as core_tools
from jupyssh.mcp.server import serving
from jupyssh.mcp.settings import Settings


@dataclass
class FakeHost:
    """Answers ``run`` with ``stdout``/``stderr``/``status``; ``hang`` makes a command
    run until its timeout (then it raises as AsyncSSHHost, which kills it on the host:
    core's tests prove that) or until cancelled."""

    alias: str
    stdout: bytes = b""
    stderr: bytes = b""
    status: int = 0
    hang: bool = False
    commands: list[list[str]] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    masters_started: int = 0
    closed: bool = False
    cancelled: bool = False
    timed_out: bool = False

    def user_commands(self) -> list[str]:
        """The shell command lines run (``sh -c LINE``)."""
        return [argv[-1] for argv in self.commands if argv[:2] == ["sh", "-c"]]

    async def config(self) -> HostConfig:
        return HostConfig(
            destination=self.alias,
            options={"hostname": ("10.0.0.7",), "user": ("ada",), "port": ("2222",)},
        )

    async def run(
        self, command: Sequence[str], *, timeout: float | None = 60.0, check: bool = True
    ) -> Completed:
        self.commands.append(list(command))
        self.timeouts.append(timeout)
        if self.hang:
            try:
                await asyncio.wait_for(asyncio.Event().wait(), timeout)
            except asyncio.TimeoutError:
                self.timed_out = True
                raise OperationTimeoutError(
                    f"ssh {self.alias} did not finish within {timeout:g} s"
                ) from None
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return Completed(("ssh", self.alias), self.status, self.stdout, self.stderr)

    async def start_master(self) -> int:
        self.masters_started += 1
        return 4242

    async def master_pid(self) -> int | None:
        return 4242 if self.masters_started else None

    async def close(self) -> None:
        self.closed = True


@dataclass
class Hosts:
    """Every fake host made, by alias; ``template`` sets up the next ones."""

    made: dict[str, FakeHost] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)

    def __call__(self, alias: str, config_file: str | None) -> FakeHost:
        host = FakeHost(alias, **self.template)
        self.made[alias] = host
        return host


@pytest.fixture
def hosts() -> Hosts:
    return Hosts()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host lab\n  HostName 10.0.0.7\nHost other\nHost *\n  User ada\n")
    return Settings(
        allow=frozenset({"lab"}),
        ssh_config=str(ssh_config),
        max_output_bytes=64,
        audit_log=tmp_path / "state" / "audit.log",
    )


MakeClient = Callable[..., Any]


@pytest_asyncio.fixture
async def connect(hosts: Hosts) -> AsyncIterator[Callable[[Settings], Any]]:
    """``async with connect(settings) as client``: the SDK's client, in process, on a
    server with core's tools alone and fake hosts."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(settings: Settings) -> AsyncIterator[Client]:
        async with (
            serving(settings, providers={"core": core_tools}, host_factory=hosts) as (server, _),
            Client(server) as client,
        ):
            yield client

    yield make
