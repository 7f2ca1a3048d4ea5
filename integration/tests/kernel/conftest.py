"""Fixtures of jupyssh-kernel's integration tests: a private Jupyter/jupyssh home, an ssh
config whose alias suits the kernel role (shared master, keepalives), and helpers that look
at the container's processes directly (docker exec, never over ssh).

Nothing here touches the user's real ~/.local/share/jupyter: JUPYTER_DATA_DIR,
JUPYTER_RUNTIME_DIR, JUPYTER_CONFIG_DIR and JUPYSSH_HOME point into a short /tmp folder
(Unix socket paths may not exceed 107 bytes, which pytest's tmp_path would).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from jupyssh_harness import (
    BastionChain,
    SSHContainer,
    write_ssh_config,
)

#: Options that make the alias fit the kernel role, with fast keepalives so that a cut
#: network kills the master within seconds (the path reconnecting must handle).
KERNEL_OPTIONS = {
    "ControlMaster": "auto",
    "ControlPersist": "10m",
    "ServerAliveInterval": "1",
    "ServerAliveCountMax": "3",
}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="jk-", dir="/tmp"))
    try:
        yield path
    finally:
        _stop_masters(path)
        shutil.rmtree(path, ignore_errors=True)


def _stop_masters(folder: Path) -> None:
    """End the control masters whose sockets live in ``folder`` (only ours)."""
    config = folder / "ssh_config"
    for socket in folder.glob("cm-*"):
        if config.exists():
            subprocess.run(
                ["ssh", "-F", str(config), "-o", f"ControlPath={socket}", "-O", "exit", "x"],
                capture_output=True,
                timeout=10,
                check=False,
            )


@pytest.fixture
def jupyter_home(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private Jupyter data/runtime/config folder and JUPYSSH_HOME for the test."""
    for name, sub in (
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "rt"),
        ("JUPYTER_CONFIG_DIR", "cfg"),
        ("JUPYSSH_HOME", "js"),
    ):
        path = short_dir / sub
        path.mkdir(mode=0o700)
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("JUPYTER_PATH", str(short_dir / "data"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return short_dir


def kernel_config(host: SSHContainer, folder: Path) -> Path:
    """An ssh config for ``host``'s alias that suits the kernel role, in ``folder``."""
    options = {**KERNEL_OPTIONS, "ControlPath": str(folder / "cm-%C")}
    entry = dataclasses.replace(host.entry(), options=options)
    return write_ssh_config(folder / "ssh_config", [entry])


def chain_config(chain: BastionChain, folder: Path) -> Path:
    """The bastion chain's config with the kernel-role options on both aliases."""
    text = chain.config_file.read_text(encoding="utf-8")
    extra = "".join(f"    {k} {v}\n" for k, v in KERNEL_OPTIONS.items())
    extra += f"    ControlPath {folder / 'cm-%C'}\n"
    lines = []
    for line in text.splitlines(keepends=True):
        lines.append(line)
        if line.startswith("Host "):
            lines.append(extra)
    path = folder / "ssh_config"
    path.write_text("".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def jupyssh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``jupyssh`` command (this interpreter's) with the test's environment."""
    done = subprocess.run(
        [sys.executable, "-c", "from jupyssh.core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"jupyssh {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def user_processes(exec_: Callable[..., object]) -> list[str]:
    """The sandbox user's processes in a container, sshd's own session processes excepted."""
    result = exec_(["ps", "-u", "sandbox", "-o", "pid=,args="], check=False)
    lines = str(getattr(result, "stdout", "")).splitlines()
    return [line.strip() for line in lines if line.strip() and "sshd:" not in line]


@pytest.fixture
def kernel_spec(ssh_host: SSHContainer, jupyter_home: Path) -> tuple[str, Path]:
    """A kernelspec ``sandbox-py`` added with the real ``jupyssh kernel add``."""
    config = kernel_config(ssh_host, jupyter_home)
    jupyssh("kernel", "add", "sandbox-py", ssh_host.alias, "-F", str(config))
    return "sandbox-py", config


@pytest.fixture
def cuttable_spec(cuttable_host: SSHContainer, jupyter_home: Path) -> tuple[str, Path]:
    """A kernelspec ``cuttable-py`` on :func:`cuttable_host`, added with ``jupyssh kernel add``."""
    config = kernel_config(cuttable_host, jupyter_home)
    jupyssh("kernel", "add", "cuttable-py", cuttable_host.alias, "-F", str(config))
    return "cuttable-py", config
