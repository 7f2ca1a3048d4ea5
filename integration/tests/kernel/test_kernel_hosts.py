"""Kernels on hosts unlike the ones we build: the venv holding ipykernel is not on a
session's PATH and there is no ``python`` (a stock Debian host reached non-interactively);
a user whose login shell is dash; a user whose ``.bashrc`` prints a greeting on every
ssh command (bash sources it for sshd's commands).

The venv's own ``python3`` kernelspec, as ipykernel installs it, says ``"argv": ["python",
"-m", "ipykernel_launcher", ...]``; the launcher must run it with its own interpreter, as
jupyter_client does locally, instead of failing with ``cannot run python``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import SSH_USER, VENV_OFF_PATH, KeyPair, SSHContainer, start_ssh_host

from .conftest import jupyssh, kernel_config
from .test_kernel_lifecycle import execute, manager

VENV_PYTHON = "/opt/venv/bin/python"
VENV_SPEC = "/opt/venv/share/jupyter/kernels/python3/kernel.json"


@pytest.fixture(scope="module")
def venv_off_path_host(
    openssh_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHContainer]:
    with start_ssh_host(
        openssh_image,
        tmp_path_factory.mktemp("venv-off-path"),
        keypair=keypair,
        sshd_options=VENV_OFF_PATH,
    ) as host:
        yield host


def test_the_host_has_no_python_and_no_venv_on_path(venv_off_path_host: SSHContainer) -> None:
    """The conditions of the bug hold on this host (else the next test proves nothing)."""
    script = 'echo "$PATH"; command -v python || echo no-python'
    done = subprocess.run(
        venv_off_path_host.ssh_argv(script), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    path, python = done.stdout.split()
    assert "/opt/venv" not in path
    assert python == "no-python"
    spec = json.loads(venv_off_path_host.exec(["cat", VENV_SPEC]).stdout)
    assert spec["argv"][0] == "python", "ipykernel's own spec no longer says a bare python"


@contextlib.asynccontextmanager
async def venv_kernel(host: SSHContainer, jupyter_home: Path, name: str) -> AsyncIterator[Any]:
    """The venv's own ``python3`` kernelspec on ``host``, added with the real ``jupyssh
    kernel add`` and started by jupyter_client: its client, ready; shut down after."""
    config = kernel_config(host, jupyter_home)
    jupyssh(
        "kernel", "add", name, host.alias, "-F", str(config),
        "--remote-python", VENV_PYTHON, "--remote-kernel", "python3",
    )  # fmt: skip
    km = manager(name)
    await km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            yield km, kc
        finally:
            kc.stop_channels()
    finally:
        await km.shutdown_kernel(now=True)


@pytest.mark.asyncio
async def test_the_venvs_own_python3_spec_starts_when_the_venv_is_not_on_path(
    venv_off_path_host: SSHContainer, jupyter_home: Path
) -> None:
    async with venv_kernel(venv_off_path_host, jupyter_home, "venv-off-path") as (_, kc):
        content, out = await execute(kc, "import sys; print(sys.executable)")
        assert content["status"] == "ok"
        assert out.strip() == VENV_PYTHON


GREETING = "Welcome to the cluster"
#: Each shape: root commands that reshape a stock host, and what a plain ssh command then
#: prints (proof that the shape holds, else the kernel test proves nothing).
HOST_SHAPES = {
    "dash login shell": ([["usermod", "-s", "/bin/sh", SSH_USER]], "/bin/sh"),
    "chatty bashrc": (
        [["sh", "-c", f"echo 'echo {GREETING}; echo {GREETING} >&2' > ~{SSH_USER}/.bashrc"]],
        GREETING,
    ),
}


@pytest.fixture(scope="module", params=sorted(HOST_SHAPES))
def odd_host(
    request: pytest.FixtureRequest,
    openssh_image: str,
    keypair: KeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SSHContainer, str]]:
    commands, shows = HOST_SHAPES[request.param]
    with start_ssh_host(
        openssh_image, tmp_path_factory.mktemp("odd"), keypair=keypair, sshd_options=VENV_OFF_PATH
    ) as host:
        for argv in commands:
            host.exec(argv)
        yield host, shows


def test_each_odd_host_has_its_shape(odd_host: tuple[SSHContainer, str]) -> None:
    """The shape holds (else the next test proves nothing)."""
    host, shows = odd_host
    probe = subprocess.run(
        host.ssh_argv('getent passwd "$(id -un)" | cut -d: -f7'),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shows in probe.stdout, probe


@pytest.mark.asyncio
async def test_a_kernel_starts_on_a_host_with_another_login_shell_or_a_chatty_bashrc(
    odd_host: tuple[SSHContainer, str], jupyter_home: Path
) -> None:
    host, _ = odd_host
    async with venv_kernel(host, jupyter_home, "odd-py") as (km, kc):
        content, out = await execute(kc, "print(6 * 7)")
        assert (content["status"], out.strip()) == ("ok", "42")
        await km.restart_kernel()
        await kc.wait_for_ready(timeout=60)
        content, out = await execute(kc, "print('again')")
        assert (content["status"], out.strip()) == ("ok", "again")
