"""Fixtures of jupyssh-mcp's integration tests: a short private home, a settings file that
allows the test's ssh host, and the MCP SDK's own client on ``jupyssh mcp serve`` run as
a subprocess over stdio (its stderr kept for the secret scans)."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import (
    TEST_LABEL,
    BuiltImage,
    KeyPair,
    SSHContainer,
    generate_host_key,
    wait_for,
    write_ssh_config,
)
from jupyssh_harness.containers import ssh_container
from jupyssh_harness.hosts import reached_as
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client


@dataclass
class Server:
    """What one ``jupyssh mcp serve`` was given and left behind."""

    home: Path
    settings: Path
    audit_log: Path
    stderr: Path
    #: More environment for the server (a private Jupyter data folder).
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JupyterHost:
    """An ssh host that also runs a Jupyter server (``containers/jupyter-sshd``) on
    127.0.0.1:8888 inside the container: only ssh reaches it."""

    ssh: SSHContainer
    token: str = field(repr=False)


@pytest.fixture(scope="module")
def jupyter_host(
    harness_images: dict[str, BuiltImage],
    keypair: KeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterHost]:
    workdir = tmp_path_factory.mktemp("mcp-jupyter-host")
    host_key = generate_host_key(workdir / "host-keys")
    token = secrets.token_hex(24)
    container = ssh_container(
        harness_images["jupyter-sshd"].tag,
        authorized_key=keypair.public_line,
        host_keys_dir=host_key.private_key.parent,
        role_label=TEST_LABEL,
    ).with_env("JUPYTER_TOKEN", token)
    with ExitStack() as resources:
        resources.callback(container.stop)
        container.start()
        host = reached_as(
            container, workdir, alias="jupyssh-lab", keypair=keypair, host_key=host_key,
            resources=resources.pop_all(),
        )  # fmt: skip
    with host:
        runtime = "/home/sandbox/.local/share/jupyter/runtime"
        wait_for(
            lambda: (
                host.exec(["sh", "-c", f"ls {runtime}/jpserver-*.json"], check=False).exit_code == 0
            ),
            60,
            "the container's Jupyter server to write its runtime file",
        )
        yield JupyterHost(host, token)


@pytest.fixture
def home() -> Iterator[Path]:
    """A short JUPYSSH_HOME: control sockets live under it (108-byte socket paths)."""
    path = Path(tempfile.mkdtemp(prefix="jmcp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_settings(home: Path, ssh_host: SSHContainer, **extra: Any) -> Server:
    server = Server(
        home=home,
        settings=home / "mcp.json",
        audit_log=home / "audit.log",
        stderr=home / "server.err",
    )
    data = {
        "allow": [ssh_host.alias],
        "ssh_config": str(ssh_host.config_file),
        "audit_log": str(server.audit_log),
        **extra,
    }
    server.settings.write_text(json.dumps(data))
    return server


@asynccontextmanager
async def mcp_client(server: Server, *args: str) -> AsyncIterator[Client]:
    """The SDK's client on ``jupyssh -vv mcp serve --settings …`` (a subprocess, stdio)."""
    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "jupyssh"),
        args=["-vv", "mcp", "serve", "--settings", str(server.settings), *args],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(server.home),
            "JUPYSSH_HOME": str(server.home),
            **server.env,
        },
    )
    with server.stderr.open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


async def wait_running(client: Client, task_id: str, seconds: float = 3) -> list[float]:
    """``task_wait`` on a task that outlives ``seconds``: it must still run afterwards, and
    the progress notifications that arrived meanwhile are returned (at least one)."""
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    waited = await client.call_tool(
        "task_wait", {"task_id": task_id, "timeout": seconds}, progress_callback=on_progress
    )
    assert not waited.is_error, waited.content
    assert waited.structured_content is not None
    assert waited.structured_content["state"] == "running"
    assert progress, "no progress notification arrived while waiting"
    return progress


KERNEL_OPTIONS = {"ControlMaster": "auto", "ControlPersist": "10m", "ServerAliveInterval": "5"}


def add_spec(server: Server, ssh_host: SSHContainer, name: str, *extra: str) -> str:
    """A kernelspec ``name`` on the host, added with the real ``jupyssh kernel add``
    (``extra``: more of its options) into the server's private Jupyter folders."""
    options = {**KERNEL_OPTIONS, "ControlPath": str(server.home / "cm-%C")}
    entry = dataclasses.replace(ssh_host.entry(), options=options)
    config = write_ssh_config(server.home / "ssh_config", [entry])
    for folder in ("data", "rt", "cfg"):
        (server.home / folder).mkdir(mode=0o700, exist_ok=True)
    server.env.update(
        {
            "JUPYTER_DATA_DIR": str(server.home / "data"),
            "JUPYTER_PATH": str(server.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(server.home / "rt"),
            "JUPYTER_CONFIG_DIR": str(server.home / "cfg"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
    )
    jupyssh = str(Path(sys.executable).parent / "jupyssh")
    subprocess.run(
        [jupyssh, "kernel", "add", name, ssh_host.alias, "-F", str(config), *extra],
        env={**os.environ, "JUPYSSH_HOME": str(server.home), **server.env},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return name
