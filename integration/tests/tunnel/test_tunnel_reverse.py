"""Persistent reverse tunnels on a "lab" machine through a bastion (issue #7, items 1, 2, 5).

The lab runs systemd as PID 1 (system and user scope) or only sshd (the no-systemd
fallback); the bastion is the plain OpenSSH image. Success is a real ssh login to the lab
through the bastion's forwarded port, after the tunnel's ssh is killed and after the
bastion container restarts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import BuiltImage, KeyPair
from jupyssh_harness.lab import REMOTE_PORT, ReverseEnv, build_project_wheels, start_reverse_env

#: The acceptance bound: back within this many seconds.
RECOVERY_S = 15.0
UNIT = "jupyssh-tunnel-lab.service"


@pytest.fixture(scope="module")
def project_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_project_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def systemd_lab(
    harness_images: dict[str, BuiltImage],
    project_wheels: list[Path],
    keypair: KeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReverseEnv]:
    with start_reverse_env(
        harness_images["lab"].tag,
        harness_images["openssh"].tag,
        project_wheels,
        keypair,
        tmp_path_factory.mktemp("systemd-lab"),
        systemd=True,
    ) as env:
        yield env


@pytest.fixture(scope="module")
def plain_lab(
    harness_images: dict[str, BuiltImage],
    project_wheels: list[Path],
    keypair: KeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReverseEnv]:
    with start_reverse_env(
        harness_images["lab"].tag,
        harness_images["openssh"].tag,
        project_wheels,
        keypair,
        tmp_path_factory.mktemp("plain-lab"),
        systemd=False,
    ) as env:
        yield env


def _ok(done: object) -> dict[str, object] | list[object]:
    exit_code = getattr(done, "exit_code", None)
    assert exit_code == 0, f"{getattr(done, 'stdout', '')}{getattr(done, 'stderr', '')}"
    data = json.loads(getattr(done, "stdout", ""))
    assert isinstance(data, (dict, list))
    return data


def _ssh_pid(env: ReverseEnv) -> int:
    """The pid of the ssh (not autossh, not the loop) holding the forward."""
    for line in env.tunnel_processes():
        pid, program = line.split()[:2]
        if program.endswith("/ssh"):
            return int(pid)
    raise AssertionError(f"no tunnel ssh runs: {env.tunnel_processes()}")


def _wait_back(env: ReverseEnv, user: str, what: str) -> None:
    """Wait for the tunnel to work again; on a timeout, fail with what the tunnel logged."""
    try:
        env.wait_through_tunnel(RECOVERY_S)
    except TimeoutError:
        logs = env.jupyssh("tunnel", "reverse", "logs", "lab", "-n", "30", user=user)
        pytest.fail(
            f"not back within {RECOVERY_S} s after {what}; processes "
            f"{env.tunnel_processes()}; logs:\n{logs.stdout}{logs.stderr}"
        )


def _recovers_from_kill_and_bastion_restart(env: ReverseEnv, user: str = "root") -> None:
    first = _ssh_pid(env)
    env.lab_exec(["kill", "-9", str(first)])
    _wait_back(env, user, "the tunnel's ssh was killed")
    assert _ssh_pid(env) != first

    env.restart_bastion()
    _wait_back(env, user, "the bastion restarted")


def _add(env: ReverseEnv, *extra: str, user: str = "root") -> dict[str, object]:
    done = env.jupyssh(
        "tunnel", "reverse", "add", "lab", "bastion",
        "--remote-port", str(REMOTE_PORT), "--to", "127.0.0.1:22", "--keepalive", "5",
        "--json", *extra, user=user,
    )  # fmt: skip
    data = _ok(done)
    assert isinstance(data, dict)
    return data


def _status(env: ReverseEnv, user: str = "root") -> dict[str, object]:
    done = env.jupyssh("tunnel", "reverse", "status", "lab", "--json", user=user)
    [status] = json.loads(done.stdout)
    assert isinstance(status, dict)
    assert done.exit_code == (0 if status["alive"] else 1)
    return status


def test_system_scope_unit_recovers_and_is_removed_cleanly(systemd_lab: ReverseEnv) -> None:
    env = systemd_lab
    spec = _add(env, "--scope", "system", "--run-as", "sandbox")
    assert spec["scope"] == "system"
    assert str(spec["autossh_program"]).endswith("/autossh")
    unit = f"/etc/systemd/system/{UNIT}"
    text = env.lab_exec(["cat", unit]).stdout
    assert "User=sandbox" in text
    assert "ExecStart=/usr/bin/autossh -M 0 -N" in text
    assert "StartLimitIntervalSec=0" in text
    verify = env.lab_exec(["systemd-analyze", "verify", unit], check=False)
    assert verify.exit_code == 0, verify.stderr
    assert UNIT not in verify.stderr, verify.stderr

    env.wait_through_tunnel(30)
    status = _status(env)
    assert status["process_alive"] is True
    assert status["forward_alive"] is True
    _recovers_from_kill_and_bastion_restart(env)

    logs = env.jupyssh("tunnel", "reverse", "logs", "lab")
    assert logs.exit_code == 0
    assert "jupyssh reverse tunnel lab" in logs.stdout  # systemd's own start lines

    removed = _ok(env.jupyssh("tunnel", "reverse", "remove", "lab", "--json"))
    assert removed == {"name": "lab", "scope": "system", "removed": True}
    assert env.lab_exec(["test", "-e", unit], check=False).exit_code == 1
    units = env.lab_exec(["systemctl", "list-units", "--all", "--no-legend"]).stdout
    assert "jupyssh-tunnel" not in units
    assert env.tunnel_processes() == []
    assert not env.through_tunnel()
    assert _ok(env.jupyssh("tunnel", "reverse", "list", "--json")) == []


def test_user_scope_checks_linger_then_recovers_and_is_removed(systemd_lab: ReverseEnv) -> None:
    env = systemd_lab
    # The user manager runs (linger started it), but the flag is gone: refused, with the
    # command that fixes it.
    env.lab_exec(["loginctl", "enable-linger", "sandbox"])
    deadline = time.monotonic() + 20
    while env.lab_exec(["systemctl", "is-active", "user@1000.service"], check=False).exit_code:
        assert time.monotonic() < deadline, "the user manager did not start"
        time.sleep(0.25)
    env.lab_exec(["rm", "/var/lib/systemd/linger/sandbox"])
    refused = env.jupyssh(
        "tunnel", "reverse", "add", "lab", "bastion", "--remote-port", "2222",
        "--scope", "user", user="sandbox",
    )  # fmt: skip
    assert refused.exit_code == 3
    assert "sudo loginctl enable-linger sandbox" in refused.stderr
    env.lab_exec(["loginctl", "enable-linger", "sandbox"])

    spec = _add(env, "--scope", "user", user="sandbox")
    assert spec["scope"] == "user"
    unit = f"/home/sandbox/.config/systemd/user/{UNIT}"
    verify = env.lab_exec(["systemd-analyze", "--user", "verify", unit], user="sandbox")
    assert UNIT not in verify.stderr, verify.stderr
    env.wait_through_tunnel(30)
    assert _status(env, "sandbox")["alive"] is True
    _recovers_from_kill_and_bastion_restart(env, "sandbox")

    _ok(env.jupyssh("tunnel", "reverse", "remove", "lab", "--json", user="sandbox"))
    assert env.lab_exec(["test", "-e", unit], check=False).exit_code == 1
    units = env.lab_exec(
        ["systemctl", "--user", "list-units", "--all", "--no-legend"], user="sandbox"
    ).stdout
    assert "jupyssh-tunnel" not in units
    assert env.tunnel_processes() == []


def test_without_systemd_a_pidfile_loop_recovers_and_is_removed(plain_lab: ReverseEnv) -> None:
    env = plain_lab
    spec = _add(env, user="sandbox")  # --scope auto: systemd is not PID 1 here
    assert spec["scope"] == "nohup"
    env.wait_through_tunnel(30)
    status = _status(env, "sandbox")
    assert status["state"] == "running"
    assert status["alive"] is True
    _recovers_from_kill_and_bastion_restart(env, "sandbox")
    logs = env.jupyssh("tunnel", "reverse", "logs", "lab", user="sandbox")
    assert "ssh exited with status" in logs.stdout

    _ok(env.jupyssh("tunnel", "reverse", "remove", "lab", "--json", user="sandbox"))
    assert env.tunnel_processes() == []
    leftovers = env.lab_exec(
        ["sh", "-c", "ls -A ~/.local/state/jupyssh/tunnel/reverse/"], user="sandbox"
    )
    assert leftovers.stdout.split() == []
    assert not env.through_tunnel()


def test_a_dead_tunnel_reads_as_dead(plain_lab: ReverseEnv) -> None:
    env = plain_lab
    _add(env, "--scope", "nohup", user="sandbox")
    try:
        env.wait_through_tunnel(30)
        pid = int(
            env.lab_exec(
                ["cat", "/home/sandbox/.local/state/jupyssh/tunnel/reverse/lab.pid"]
            ).stdout
        )
        env.lab_exec(["kill", "-STOP", str(pid)])  # the loop stops restarting ssh
        env.lab_exec(["kill", "-9", str(_ssh_pid(env))])
        deadline = time.monotonic() + RECOVERY_S
        while env.through_tunnel():
            assert time.monotonic() < deadline
            time.sleep(0.25)
        status = _status(env, "sandbox")
        assert status["forward_alive"] is False
        assert "open failed" in str(status["detail"]), status
        env.lab_exec(["kill", "-CONT", str(pid)])
    finally:
        env.jupyssh("tunnel", "reverse", "remove", "lab", user="sandbox")
    assert env.tunnel_processes() == []


def test_a_taken_port_or_unreachable_bastion_is_refused_before_installing(
    plain_lab: ReverseEnv,
) -> None:
    env = plain_lab
    with env.hold_bastion_port() as port:
        taken = env.jupyssh(
            "tunnel", "reverse", "add", "lab", "bastion", "--remote-port", str(port),
            user="sandbox",
        )  # fmt: skip
    assert taken.exit_code == 4, taken.stderr
    assert f"the bastion refused to listen on 127.0.0.1:{port}" in taken.stderr
    assert len(taken.stderr.strip().splitlines()) == 1

    unreachable = env.jupyssh(
        "tunnel", "reverse", "add", "lab", "no-such-bastion.invalid",
        "--remote-port", str(REMOTE_PORT), user="sandbox",
    )  # fmt: skip
    assert unreachable.exit_code == 4, unreachable.stderr
    assert "no-such-bastion.invalid" in unreachable.stderr
    assert _ok(env.jupyssh("tunnel", "reverse", "list", "--json", user="sandbox")) == []
    assert env.tunnel_processes() == []
