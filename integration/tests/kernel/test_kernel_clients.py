"""Acceptance 3 and 6: nbclient runs a notebook on the remote kernel, `jupyter kernelspec
list` shows the spec, the kernel.json argv fallback starts the same kernel without the
provisioner; and launches that fail leave no process on the host."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyssh_harness import SSHContainer, wait_for
from nbclient import NotebookClient

from jupyssh.core.errors import ForwardingError
from jupyssh.kernel.errors import RemoteKernelSpecMissingError

from .conftest import jupyssh, user_processes


@pytest.mark.asyncio
async def test_nbclient_executes_a_notebook_on_the_host(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path]
) -> None:
    name, _ = kernel_spec
    baseline = user_processes(ssh_host.exec)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import socket; print(socket.gethostname())"),
        nbformat.v4.new_code_cell("x = 21"),
        nbformat.v4.new_code_cell("x * 2"),
    ]
    await NotebookClient(nb, kernel_name=name, timeout=60).async_execute()
    hostname = ssh_host.exec(["hostname"]).stdout.strip()
    assert nb.cells[0].outputs[0]["text"].strip() == hostname
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "42"
    wait_for(lambda: user_processes(ssh_host.exec) == baseline, 10, "processes at baseline")


def test_jupyter_kernelspec_list_shows_the_spec(kernel_spec: tuple[str, Path]) -> None:
    name, _ = kernel_spec
    jupyter = Path(sys.executable).parent / "jupyter"
    done = subprocess.run(
        [str(jupyter), "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    specs = json.loads(done.stdout)["kernelspecs"]
    assert name in specs
    spec = specs[name]["spec"]
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "jupyssh"
    assert spec["argv"][1:6] == ["-m", "jupyssh.kernel", "launch", name, "--connection-file"]


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _connection_file(path: Path, ports: list[int]) -> dict[str, Any]:
    names = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]
    info: dict[str, Any] = dict(zip(names, ports, strict=True))
    info.update(
        ip="127.0.0.1",
        transport="tcp",
        key="a-key-the-application-chose",
        signature_scheme="hmac-sha256",
        kernel_name="",
    )
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return info


def test_argv_fallback_starts_the_kernel_without_the_provisioner(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path], jupyter_home: Path
) -> None:
    """What an application that ignores provisioners does: write a connection file of its
    own, run the kernelspec's argv with it, talk to those ports, then SIGTERM the process."""
    from jupyter_client import BlockingKernelClient
    from jupyter_client.kernelspec import KernelSpecManager

    name, _ = kernel_spec
    baseline = user_processes(ssh_host.exec)
    connection_file = jupyter_home / "app-kernel.json"
    _connection_file(connection_file, _free_ports(5))
    argv = KernelSpecManager().get_kernel_spec(name).argv
    argv = [a.replace("{connection_file}", str(connection_file)) for a in argv]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        kc = BlockingKernelClient(connection_file=str(connection_file))
        kc.load_connection_file()
        # Heartbeats start once ready: a remote kernel takes longer than the client's 1 s
        # heart-failure limit to start, which would read as a death.
        kc.start_channels(hb=False)
        try:
            kc.wait_for_ready(timeout=60)
            kc.hb_channel.start()
            wait_for(kc.hb_channel.is_beating, 10, "heartbeats through the forward")
            collect = _Collector()
            reply = kc.execute_interactive(
                "import socket; print(socket.gethostname())", timeout=30, output_hook=collect
            )
            assert reply["content"]["status"] == "ok"
            assert collect.text.strip() == ssh_host.exec(["hostname"]).stdout.strip()
        finally:
            kc.stop_channels()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    wait_for(lambda: user_processes(ssh_host.exec) == baseline, 10, "processes at baseline")


class _Collector:
    def __init__(self) -> None:
        self.text = ""

    def __call__(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]


@pytest.mark.asyncio
async def test_bad_remote_kernel_name_fails_clearly_and_leaves_nothing(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path]
) -> None:
    from jupyter_client.manager import AsyncKernelManager

    name, _ = kernel_spec
    jupyssh("kernel", "edit", name, "--remote-kernel", "no-such-kernel")
    baseline = user_processes(ssh_host.exec)
    km = AsyncKernelManager(kernel_name=name)
    try:
        with pytest.raises(RemoteKernelSpecMissingError, match="no-such-kernel") as failure:
            await km.start_kernel()
    finally:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    assert failure.value.where == ssh_host.alias
    assert user_processes(ssh_host.exec) == baseline


@pytest.mark.asyncio
async def test_failure_after_the_remote_start_takes_the_kernel_down(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path], jupyter_home: Path
) -> None:
    """The kernel starts on the host, then a local port cannot be forwarded (another program
    holds it): the launch fails with a forwarding error and the remote kernel goes too."""
    from jupyter_client.manager import AsyncKernelManager

    name, _ = kernel_spec
    baseline = user_processes(ssh_host.exec)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        ports = [*_free_ports(4), holder.getsockname()[1]]
        connection_file = jupyter_home / "taken.json"
        _connection_file(connection_file, ports)
        km = AsyncKernelManager(kernel_name=name, connection_file=str(connection_file))
        km.load_connection_file()
        try:
            with pytest.raises(ForwardingError):
                await km.start_kernel()
        finally:
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
    finally:
        holder.close()
    wait_for(lambda: user_processes(ssh_host.exec) == baseline, 10, "processes at baseline")


@pytest.mark.asyncio
async def test_unwritable_runtime_folder_fails_before_anything_runs_remotely(
    ssh_host: SSHContainer,
    kernel_spec: tuple[str, Path],
    jupyter_home: Path,
) -> None:
    from jupyter_client.manager import AsyncKernelManager

    name, _ = kernel_spec
    baseline = user_processes(ssh_host.exec)
    # Below a regular file: no folder can be made there, not even by root.
    blocker = jupyter_home / "not-a-folder"
    blocker.write_text("")
    km = AsyncKernelManager(kernel_name=name, connection_file=str(blocker / "rt" / "k.json"))
    try:
        with pytest.raises(OSError, match="not-a-folder"):
            await km.start_kernel()
    finally:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    assert user_processes(ssh_host.exec) == baseline
