"""jupyssh.core.ssh against a real sshd: resolution, commands, the bastion, the control
master and its forwards, and every typed error produced by its real condition."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import (
    SSH_USER,
    BastionChain,
    KeyPair,
    SSHContainer,
    start_ssh_host,
    write_ssh_config,
)

from jupyssh.core.errors import (
    HostKeyChangedError,
    HostKeyUnknownError,
    OperationTimeoutError,
    RemoteCommandError,
    RemoteCommandNotFound,
    SSHAuthenticationError,
    SSHConnectionRefused,
    SSHNameResolutionError,
    SSHTimeout,
)
from jupyssh.core.ssh import AsyncSSHHost

pytestmark = pytest.mark.asyncio

#: A 64-character label is invalid DNS: glibc refuses it without sending a query.
UNRESOLVABLE = "a" * 64 + ".invalid"


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """A short private directory for control sockets: pytest's tmp_path is too long
    for a Unix socket path (108 bytes) once ssh appends its temporary suffix."""
    path = Path(tempfile.mkdtemp(prefix="jssh-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def client(alias: str, config: Path | str, **kwargs: object) -> AsyncSSHHost:
    return AsyncSSHHost(alias, config_file=str(config), connect_timeout=10, **kwargs)  # type: ignore[arg-type]


async def test_alias_resolves_to_the_container(ssh_host: SSHContainer) -> None:
    config = await client(ssh_host.alias, ssh_host.config_file).config()
    assert (config.hostname, config.port, config.user) == ("127.0.0.1", ssh_host.port, "sandbox")
    assert config.batch_mode


async def test_command_runs_on_the_host(ssh_host: SSHContainer) -> None:
    expected = ssh_host.exec(["hostname"]).stdout.strip()
    async with client(ssh_host.alias, ssh_host.config_file) as host:
        result = await host.run(["hostname"])
    assert result.stdout_text.strip() == expected
    assert result.returncode == 0


async def test_words_reach_the_remote_program_unchanged(ssh_host: SSHContainer) -> None:
    words = ["a b", "$HOME", "'q'", '"d"', "x;y", "*", "é"]
    async with client(ssh_host.alias, ssh_host.config_file) as host:
        result = await host.run(["printf", "%s\\n", *words])
    assert result.stdout_text.splitlines() == words


async def test_secret_on_stdin_is_not_in_the_remote_argv(ssh_host: SSHContainer) -> None:
    secret = "kernel-key-0f4a9c"
    script = 'read -r key; ps -eo args > /tmp/argv-seen; echo "${#key}"'
    async with client(ssh_host.alias, ssh_host.config_file) as host:
        result = await host.run(["bash", "-c", script], input=f"{secret}\n".encode())
    assert result.stdout_text.strip() == str(len(secret))
    seen = ssh_host.exec(["cat", "/tmp/argv-seen"]).stdout
    assert "read -r key" in seen  # the listing did capture the command lines
    assert secret not in seen


async def test_script_on_stdin_with_arguments(ssh_host: SSHContainer) -> None:
    async with client(ssh_host.alias, ssh_host.config_file) as host:
        result = await host.run_script(
            "import sys; print(sys.argv[1:])", interpreter=("python3", "-"), args=["one two"]
        )
    assert result.stdout_text.strip() == "['one two']"


async def test_command_through_the_bastion(bastion_chain: BastionChain) -> None:
    expected = bastion_chain.exec_target(["hostname"]).stdout.strip()
    async with client(bastion_chain.target_alias, bastion_chain.config_file) as host:
        hops = await host.chain()
        result = await host.run(["hostname"])
    assert [hop.spec for hop in hops] == [bastion_chain.bastion_alias, bastion_chain.target_alias]
    assert result.stdout_text.strip() == expected


async def test_target_is_not_reachable_without_the_bastion(bastion_chain: BastionChain) -> None:
    config = await client(bastion_chain.target_alias, bastion_chain.config_file).config()
    assert [jump.host for jump in config.proxy_jump] == [bastion_chain.bastion_alias]
    direct = AsyncSSHHost(
        bastion_chain.target_alias,
        config_file=str(bastion_chain.config_file),
        connect_timeout=3,
        options={"ProxyJump": "none", "HostName": bastion_chain.target_address()},
    )
    # the target drops the host's packets: only the bastion's route reaches it
    with pytest.raises(SSHTimeout):
        await direct.run(["true"], timeout=30)


async def test_master_is_started_used_and_stopped(
    ssh_host: SSHContainer, control_dir: Path
) -> None:
    control = str(control_dir / "cm-%C")
    async with client(ssh_host.alias, ssh_host.config_file, control_path=control) as host:
        assert await host.master_pid() is None
        pid = await host.start_master()
        assert await host.start_master() == pid  # idempotent: one master
        # a command rides the master: sshd sees no new login for it
        before = ssh_host.exec(["pgrep", "-c", "-u", "sandbox", "sshd"], check=False).stdout
        await host.run(["true"])
        after = ssh_host.exec(["pgrep", "-c", "-u", "sandbox", "sshd"], check=False).stdout
        assert before == after
    assert (
        await client(ssh_host.alias, ssh_host.config_file, control_path=control).master_pid()
        is None
    )


async def test_forward_to_a_tcp_port_carries_traffic(
    ssh_host: SSHContainer, control_dir: Path
) -> None:
    async with client(
        ssh_host.alias, ssh_host.config_file, control_path=str(control_dir / "cm-%C")
    ) as host:
        forward = await host.forward_local(("127.0.0.1", 22))
        with socket.create_connection(("127.0.0.1", forward.local_port), timeout=10) as conn:
            banner = conn.recv(64)
        assert banner.startswith(b"SSH-2.0-OpenSSH")
        await host.cancel_forward(forward)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", forward.local_port), timeout=5).close()


async def test_forward_to_a_remote_unix_socket(ssh_host: SSHContainer, control_dir: Path) -> None:
    server = (
        "import os, socket\n"
        "path = '/tmp/jupyssh-echo.sock'\n"
        "os.path.exists(path) and os.unlink(path)\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1)\n"
        "c, _ = s.accept(); c.sendall(c.recv(100).upper()); c.close()\n"
    )
    async with client(
        ssh_host.alias, ssh_host.config_file, control_path=str(control_dir / "cm-%C")
    ) as host:
        await host.run(
            ["bash", "-c", 'nohup python3 -c "$1" >/dev/null 2>&1 & sleep 1', "-", server]
        )
        forward = await host.forward_local("/tmp/jupyssh-echo.sock")
        with socket.create_connection(("127.0.0.1", forward.local_port), timeout=10) as conn:
            conn.sendall(b"through the master")
            assert conn.recv(100) == b"THROUGH THE MASTER"


async def test_dead_port_is_refused(ssh_host: SSHContainer, dead_port_config: Path) -> None:
    with pytest.raises(SSHConnectionRefused) as caught:
        await client(ssh_host.alias, dead_port_config).run(["true"])
    assert caught.value.where == ssh_host.alias
    assert "Connection refused" in caught.value.stderr


async def test_wrong_key_is_refused(ssh_host: SSHContainer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    keygen = await asyncio.create_subprocess_exec(
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        str(other),
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(keygen.wait(), 60) == 0
    entry = dataclasses.replace(ssh_host.entry(), identity_file=other)
    config = write_ssh_config(tmp_path / "ssh_config", [entry])
    with pytest.raises(SSHAuthenticationError, match="authentication was refused"):
        await client(ssh_host.alias, config).run(["true"])


async def test_changed_host_key_is_refused(
    ssh_host: SSHContainer, changed_host_key_config: Path
) -> None:
    with pytest.raises(HostKeyChangedError):
        await client(ssh_host.alias, changed_host_key_config).run(["true"])


async def test_unknown_host_key_is_refused(ssh_host: SSHContainer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = ssh_host.write_config(tmp_path / "ssh_config", known_hosts=empty)
    with pytest.raises(HostKeyUnknownError):
        await client(ssh_host.alias, config).run(["true"])


async def test_unresolvable_name(ssh_host: SSHContainer, tmp_path: Path) -> None:
    entry = dataclasses.replace(ssh_host.entry(), hostname=UNRESOLVABLE)
    config = write_ssh_config(tmp_path / "ssh_config", [entry])
    with pytest.raises(SSHNameResolutionError):
        await client(ssh_host.alias, config).run(["true"])


async def test_missing_command_and_failing_command(ssh_host: SSHContainer) -> None:
    async with client(ssh_host.alias, ssh_host.config_file) as host:
        with pytest.raises(RemoteCommandNotFound, match="no-such-program"):
            await host.run(["no-such-program", "--x"])
        with pytest.raises(RemoteCommandError) as caught:
            await host.run(["bash", "-c", "echo oops >&2; exit 3"])
    assert (caught.value.returncode, caught.value.stderr) == (3, "oops")


@pytest.fixture(scope="module")
def dash_login_host(
    openssh_image: str, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHContainer]:
    """A host whose user's login shell is dash, which forks a command where bash execs it."""
    with start_ssh_host(openssh_image, tmp_path_factory.mktemp("dash"), keypair=keypair) as host:
        host.exec(["usermod", "-s", "/bin/sh", SSH_USER])
        yield host


#: How many pid files of bounded commands are on the host.
COUNT_PID_FILES = "ls ${TMPDIR:-/tmp} | grep -c '^jupyssh-.*[.]pid$' || true"


def remote_processes(host: SSHContainer, command_line: str) -> int:
    """How many processes run ``command_line`` on the host (read from /proc)."""
    script = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"
    lines = host.exec(["sh", "-c", script]).stdout.splitlines()
    return sum(line.strip() == command_line for line in lines)


@pytest.mark.parametrize("login_shell", ["bash", "dash"])
async def test_a_timeout_through_the_master_stops_the_command_on_the_host(
    request: pytest.FixtureRequest, login_shell: str, control_dir: Path
) -> None:
    """The master holds a killed client's pipes until the remote command ends: without
    killing it on the host, a 2 s timeout on this command waited 47 s and left it running."""
    container: SSHContainer = request.getfixturevalue(
        "ssh_host" if login_shell == "bash" else "dash_login_host"
    )
    control = str(control_dir / "cm-%C")
    async with client(container.alias, container.config_file, control_path=control) as host:
        await host.start_master()
        started = time.monotonic()
        with pytest.raises(OperationTimeoutError, match="did not finish within 2 s"):
            await host.run(["sh", "-c", "sleep 47; echo never"], timeout=2)
        assert time.monotonic() - started < 10
        assert remote_processes(container, "sleep 47") == 0
        # the master serves the next command, and the wrapper left no pid file behind
        # (unbounded: a bounded run would count its own pid file)
        leftovers = await host.run(["sh", "-c", COUNT_PID_FILES], timeout=None)
        assert leftovers.stdout_text.strip() == "0"


async def test_a_cancelled_command_is_stopped_on_the_host(
    ssh_host: SSHContainer, control_dir: Path
) -> None:
    control = str(control_dir / "cm-%C")
    async with client(ssh_host.alias, ssh_host.config_file, control_path=control) as host:
        await host.start_master()
        running = asyncio.ensure_future(host.run(["sleep", "53"], timeout=600))
        for _ in range(100):
            if remote_processes(ssh_host, "sleep 53") == 1:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the command never started on the host")
        started = time.monotonic()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert time.monotonic() - started < 10
        assert remote_processes(ssh_host, "sleep 53") == 0
