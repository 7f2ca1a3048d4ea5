"""AsyncSSHHost's own logic (argv, quoting, secrets on stdin, error mapping), checked
against core's stand-in `ssh` program (``FakeSSH``), which records its argv and runs the
remote command here. The real OpenSSH is exercised
end to end in integration/tests/test_core_ssh.py."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from jupyssh.core.errors import (
    ForwardingError,
    OperationTimeout,
    RemoteCommandError,
    RemoteCommandNotFound,
    SSHAuthenticationError,
)
from jupyssh.core.ssh import AsyncSSHHost, SSHHost
from jupyssh.core.testing import FakeSSH
from jupyssh.core.testing.fake_ssh import MASTER_PID


def _running(command_line: str) -> bool:
    return subprocess.run(["pgrep", "-fx", command_line], check=False).returncode == 0


@pytest.fixture
def fake_ssh(tmp_path: Path) -> FakeSSH:
    return FakeSSH.install(tmp_path / "fake-bin")


def host(fake_ssh: FakeSSH, **kwargs: object) -> AsyncSSHHost:
    return AsyncSSHHost(
        "lab",
        config_file="/cfg",
        ssh_program=str(fake_ssh.program),
        control_path="/run/cm-%C",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.asyncio
async def test_remote_words_are_quoted_and_options_come_first(fake_ssh: FakeSSH) -> None:
    result = await host(fake_ssh).run(["echo", "a b; rm -rf ~", "$HOME"])
    argv = fake_ssh.calls()[0]
    assert argv[:2] == ["-F", "/cfg"]
    assert "ControlMaster=no" in argv
    assert "ControlPath=/run/cm-%C" in argv
    assert "BatchMode=yes" in argv
    assert argv[-3:-1] == ["--", "lab"]
    assert fake_ssh.commands() == [["echo", "a b; rm -rf ~", "$HOME"]]
    assert result.stdout_text == "a b; rm -rf ~ $HOME\n"  # the "remote" shell's words


@pytest.mark.asyncio
async def test_secrets_travel_on_stdin_never_in_argv(fake_ssh: FakeSSH) -> None:
    secret = "kernel-key-5f1e"
    result = await host(fake_ssh).run(["cat"], input=secret.encode())
    assert secret not in json.dumps(fake_ssh.calls())
    assert result.stdout_text == secret


@pytest.mark.asyncio
async def test_script_goes_on_stdin_with_arguments(fake_ssh: FakeSSH) -> None:
    result = await host(fake_ssh).run_script("print(1)", interpreter=("python3", "-"), args=["x y"])
    assert fake_ssh.commands() == [["python3", "-", "x y"]]
    assert result.stdout_text == "1\n"  # python3 read the script from stdin


@pytest.mark.asyncio
async def test_user_options_override_defaults(fake_ssh: FakeSSH) -> None:
    await host(fake_ssh, batch_mode=False, options={"ServerAliveInterval": "5"}).run(["true"])
    argv = fake_ssh.calls()[0]
    assert "BatchMode=yes" not in argv
    assert "ServerAliveInterval=5" in argv


@pytest.mark.asyncio
async def test_not_found_and_failed_commands(fake_ssh: FakeSSH) -> None:
    fake_ssh.answer(127, "bash: line 1: nope: command not found\n")
    with pytest.raises(RemoteCommandNotFound, match="nope") as caught:
        await host(fake_ssh).run(["nope"])
    assert caught.value.returncode == 127
    fake_ssh.answer(3, "disk full\n")
    with pytest.raises(RemoteCommandError, match="status 3: false: disk full"):
        await host(fake_ssh).run(["false"])
    result = await host(fake_ssh).run(["false"], check=False)
    assert (result.returncode, result.stderr_text) == (3, "disk full\n")


@pytest.mark.asyncio
async def test_ssh_failure_is_typed_even_without_check(fake_ssh: FakeSSH) -> None:
    fake_ssh.answer(255, "sandbox@h: Permission denied (publickey).\n")
    with pytest.raises(SSHAuthenticationError) as caught:
        await host(fake_ssh).run(["true"], check=False)
    assert caught.value.where == "lab"


@pytest.mark.asyncio
async def test_remote_exit_255_without_an_ssh_message_is_the_commands(
    fake_ssh: FakeSSH,
) -> None:
    fake_ssh.answer(255, "my tool failed\n")
    result = await host(fake_ssh).run(["tool"], check=False)
    assert result.returncode == 255


@pytest.mark.asyncio
async def test_timeout_kills_ssh(fake_ssh: FakeSSH) -> None:
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match=r"ssh lab did not finish within 0\.5 s"):
        await host(fake_ssh).run(["sleep", "100"], timeout=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_a_timeout_through_a_master_kills_the_command_on_the_host(
    fake_ssh: FakeSSH,
) -> None:
    """A master holds a killed client's pipes until the remote command ends: the command
    itself is killed on the host, by the token its wrapper recorded its pid under."""
    fake_ssh.start_master()
    marker = f"{time.monotonic_ns() % 10**6 + 1000}.5"  # this test's own sleep
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match=r"ssh lab did not finish within 0\.5 s"):
        # a grandchild of the wrapper: found by the tree walk, not by a group kill
        await host(fake_ssh).run(["sh", "-c", f"sleep {marker}; true"], timeout=0.5)
    assert time.monotonic() - started < 5
    run, kill = [argv for argv in fake_ssh.calls() if "-O" not in argv]
    wrapper, killer = shlex.split(run[-1]), shlex.split(kill[-1])
    assert killer[:2] == ["sh", "-c"]
    assert killer[-1] == wrapper[-2]  # the same token
    assert fake_ssh.commands()[0] == ["sh", "-c", f"sleep {marker}; true"]
    assert not _running(f"sleep {marker}")


@pytest.mark.asyncio
async def test_a_timeout_without_a_master_kills_only_the_client(fake_ssh: FakeSSH) -> None:
    """No master holds the pipes: the client's death ends the session, and no new login
    is made just to kill (the host may be what hangs)."""
    with pytest.raises(OperationTimeout):
        await host(fake_ssh).run(["sleep", "100"], timeout=0.5)
    assert [argv for argv in fake_ssh.calls() if "-O" not in argv] == fake_ssh.calls()[:1]
    assert fake_ssh.count("-O", "check") == 1


@pytest.mark.asyncio
async def test_a_bounded_command_keeps_its_status_output_and_stdin(fake_ssh: FakeSSH) -> None:
    result = await host(fake_ssh).run(
        ["sh", "-c", "cat; echo err >&2; exit 7"], input=b"in", timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr_text) == (7, b"in", "err\n")


@pytest.mark.asyncio
async def test_master_pid_parses_check_output(fake_ssh: FakeSSH) -> None:
    fake_ssh.start_master()  # -O check says "Master running (pid=4242)\r\n"
    assert await host(fake_ssh).master_pid() == MASTER_PID
    argv = fake_ssh.calls()[0]
    assert argv[-4:] == ["-O", "check", "--", "lab"]
    fake_ssh.stop_master()  # "Control socket connect(…): No such file or directory", 255
    assert await host(fake_ssh).master_pid() is None


@pytest.mark.asyncio
async def test_forward_local_checks_the_master_unless_the_caller_just_did(
    fake_ssh: FakeSSH,
) -> None:
    fake_ssh.start_master()
    lab = host(fake_ssh)
    await lab.forward_local(("127.0.0.1", 8888), local_port=5000)
    operations = [argv[argv.index("-O") + 1] for argv in fake_ssh.calls() if "-O" in argv]
    assert operations == ["check", "forward"]
    await lab.start_master()
    for port in (5001, 5002, 5003):
        await lab.forward_local(("127.0.0.1", port), local_port=port, ensure_master=False)
    operations = [argv[argv.index("-O") + 1] for argv in fake_ssh.calls() if "-O" in argv]
    assert operations == ["check", "forward", "check", "forward", "forward", "forward"]


@pytest.mark.asyncio
async def test_forward_of_a_relative_socket_path_is_refused(fake_ssh: FakeSSH) -> None:
    with pytest.raises(ForwardingError, match="absolute"):
        await host(fake_ssh).forward_local("relative.sock")


@pytest.mark.asyncio
async def test_sync_facade_refuses_a_running_loop(fake_ssh: FakeSSH) -> None:
    with pytest.raises(RuntimeError, match="AsyncSSHHost"):
        SSHHost("lab", ssh_program=str(fake_ssh.program), control_path="/x").run(["true"])


def test_sync_facade_runs(fake_ssh: FakeSSH) -> None:
    with SSHHost("lab", ssh_program=str(fake_ssh.program), control_path="/x") as ssh:
        assert ssh.run(["echo", "hi"]).stdout_text == "hi\n"


@pytest.mark.asyncio
async def test_command_argv_is_the_same_client_argv_run_uses(fake_ssh: FakeSSH) -> None:
    lab = host(fake_ssh)
    argv = await lab.command_argv(["python3", "-c", "print('a b')"])
    await lab.run(["python3", "-c", "print('a b')"])
    # the same client argv; run's command is only wrapped so that a timeout can kill it
    assert argv[1:-1] == fake_ssh.calls()[0][:-1]
    assert shlex.split(argv[-1]) == ["python3", "-c", "print('a b')"]
    assert fake_ssh.commands() == [["python3", "-c", "print('a b')"]]
    with pytest.raises(ValueError, match="program"):
        await lab.command_argv([])
