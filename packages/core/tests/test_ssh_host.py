"""AsyncSSHHost's own logic (argv, quoting, secrets on stdin, error mapping), checked
against a stand-in `ssh` program that records its argv. The real OpenSSH is exercised
end to end in integration/tests/test_core_ssh.py."""

from __future__ import annotations

import json
import shlex
import sys
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

FAKE_SSH = """\
#!{python}
import json, os, sys, time
mode = os.environ.get("FAKE_SSH_MODE", "echo")
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
data = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
if mode == "echo":
    sys.stdout.write(sys.argv[-1])
    sys.stderr.buffer.write(data)
    sys.exit(0)
if mode == "sleep":
    time.sleep(30)
code, _, message = mode.partition(":")
sys.stderr.write(message)
sys.exit(int(code))
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    program = tmp_path / "ssh"
    program.write_text(FAKE_SSH.format(python=sys.executable))
    program.chmod(0o755)
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "argv.log"))
    return program


def calls(fake_ssh: Path) -> list[list[str]]:
    log = fake_ssh.parent / "argv.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


def host(fake_ssh: Path, **kwargs: object) -> AsyncSSHHost:
    return AsyncSSHHost(
        "lab",
        config_file="/cfg",
        ssh_program=str(fake_ssh),
        control_path="/run/cm-%C",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.asyncio
async def test_remote_words_are_quoted_and_options_come_first(fake_ssh: Path) -> None:
    result = await host(fake_ssh).run(["echo", "a b; rm -rf ~", "$HOME"])
    argv = calls(fake_ssh)[0]
    assert argv[:2] == ["-F", "/cfg"]
    assert "ControlMaster=no" in argv
    assert "ControlPath=/run/cm-%C" in argv
    assert "BatchMode=yes" in argv
    assert argv[-3:-1] == ["--", "lab"]
    assert shlex.split(argv[-1]) == ["echo", "a b; rm -rf ~", "$HOME"]
    assert result.stdout_text == argv[-1]


@pytest.mark.asyncio
async def test_secrets_travel_on_stdin_never_in_argv(fake_ssh: Path) -> None:
    secret = "kernel-key-5f1e"
    result = await host(fake_ssh).run(["cat"], input=secret.encode())
    assert secret not in json.dumps(calls(fake_ssh))
    assert result.stderr_text == secret


@pytest.mark.asyncio
async def test_script_goes_on_stdin_with_arguments(fake_ssh: Path) -> None:
    result = await host(fake_ssh).run_script("print(1)", interpreter=("python3", "-"), args=["x y"])
    assert shlex.split(calls(fake_ssh)[0][-1]) == ["python3", "-", "x y"]
    assert result.stderr_text == "print(1)"


@pytest.mark.asyncio
async def test_user_options_override_defaults(fake_ssh: Path) -> None:
    await host(fake_ssh, batch_mode=False, options={"ServerAliveInterval": "5"}).run(["true"])
    argv = calls(fake_ssh)[0]
    assert "BatchMode=yes" not in argv
    assert "ServerAliveInterval=5" in argv


@pytest.mark.asyncio
async def test_not_found_and_failed_commands(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "127:bash: line 1: nope: command not found\n")
    with pytest.raises(RemoteCommandNotFound, match="nope") as caught:
        await host(fake_ssh).run(["nope"])
    assert caught.value.returncode == 127
    monkeypatch.setenv("FAKE_SSH_MODE", "3:disk full\n")
    with pytest.raises(RemoteCommandError, match="status 3: false: disk full"):
        await host(fake_ssh).run(["false"])
    result = await host(fake_ssh).run(["false"], check=False)
    assert (result.returncode, result.stderr_text) == (3, "disk full\n")


@pytest.mark.asyncio
async def test_ssh_failure_is_typed_even_without_check(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "255:sandbox@h: Permission denied (publickey).\n")
    with pytest.raises(SSHAuthenticationError) as caught:
        await host(fake_ssh).run(["true"], check=False)
    assert caught.value.where == "lab"


@pytest.mark.asyncio
async def test_remote_exit_255_without_an_ssh_message_is_the_commands(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "255:my tool failed\n")
    result = await host(fake_ssh).run(["tool"], check=False)
    assert result.returncode == 255


@pytest.mark.asyncio
async def test_timeout_kills_ssh(fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "sleep")
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match=r"ssh lab did not finish within 0\.5 s"):
        await host(fake_ssh).run(["sleep", "100"], timeout=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_master_pid_parses_check_output(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "0:Master running (pid=4242)\r\n")
    assert await host(fake_ssh).master_pid() == 4242
    argv = calls(fake_ssh)[0]
    assert argv[-4:] == ["-O", "check", "--", "lab"]
    monkeypatch.setenv("FAKE_SSH_MODE", "255:Control socket connect(/x): No such file\n")
    assert await host(fake_ssh).master_pid() is None


@pytest.mark.asyncio
async def test_forward_local_checks_the_master_unless_the_caller_just_did(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "0:Master running (pid=4242)")
    lab = host(fake_ssh)
    await lab.forward_local(("127.0.0.1", 8888), local_port=5000)
    operations = [argv[argv.index("-O") + 1] for argv in calls(fake_ssh) if "-O" in argv]
    assert operations == ["check", "forward"]
    await lab.start_master()
    for port in (5001, 5002, 5003):
        await lab.forward_local(("127.0.0.1", port), local_port=port, ensure_master=False)
    operations = [argv[argv.index("-O") + 1] for argv in calls(fake_ssh) if "-O" in argv]
    assert operations == ["check", "forward", "check", "forward", "forward", "forward"]


@pytest.mark.asyncio
async def test_forward_of_a_relative_socket_path_is_refused(fake_ssh: Path) -> None:
    with pytest.raises(ForwardingError, match="absolute"):
        await host(fake_ssh).forward_local("relative.sock")


@pytest.mark.asyncio
async def test_sync_facade_refuses_a_running_loop(fake_ssh: Path) -> None:
    with pytest.raises(RuntimeError, match="AsyncSSHHost"):
        SSHHost("lab", ssh_program=str(fake_ssh), control_path="/x").run(["true"])


def test_sync_facade_runs(fake_ssh: Path) -> None:
    with SSHHost("lab", ssh_program=str(fake_ssh), control_path="/x") as ssh:
        assert shlex.split(ssh.run(["echo", "hi"]).stdout_text) == ["echo", "hi"]


@pytest.mark.asyncio
async def test_command_argv_is_the_same_client_argv_run_uses(fake_ssh: Path) -> None:
    lab = host(fake_ssh)
    argv = await lab.command_argv(["python3", "-c", "print('a b')"])
    await lab.run(["python3", "-c", "print('a b')"])
    assert argv[1:] == calls(fake_ssh)[0]
    assert shlex.split(argv[-1]) == ["python3", "-c", "print('a b')"]
    with pytest.raises(ValueError, match="program"):
        await lab.command_argv([])
