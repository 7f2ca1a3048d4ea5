"""Smoke tests of the harness itself, with the real OpenSSH client and plain HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest
from jupyssh_harness import (
    OWNER_LABEL,
    TEST_LABEL,
    BastionChain,
    BuiltImage,
    HarnessError,
    JupyterServer,
    SSHContainer,
    cleanup,
    ensure_image,
    read_announcement,
)
from jupyssh_harness.containers import labels_for
from jupyssh_harness.engine import docker_client
from jupyssh_harness.openssh import pinned_argv
from jupyssh_harness.wheelhouse import extra_wheels_from_env

pytestmark = pytest.mark.integration

# Straight to 127.0.0.1, whatever *_proxy variables say.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run(argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def http_status(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> int:
    request = urllib.request.Request(url, headers=headers or {}, method=method)  # noqa: S310
    try:
        with _http.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def http_json(url: str, headers: dict[str, str], method: str = "GET") -> object:
    request = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310
    with _http.open(request, timeout=10) as response:
        return json.loads(response.read())


def ssh_g(config: Path, alias: str) -> dict[str, str]:
    result = run(["ssh", "-G", "-F", str(config), alias])
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


# -- ssh host ----------------------------------------------------------------------------


def test_ssh_alias_runs_a_command(ssh_host: SSHContainer) -> None:
    result = run(ssh_host.ssh_argv("hostname"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ssh_host.exec(["hostname"]).stdout.strip()


def test_pinned_argv_logs_in_with_only_the_given_key_and_host_key(
    ssh_host: SSHContainer, tmp_path: Path
) -> None:
    ssh = pinned_argv("ssh", ssh_host.known_hosts, ssh_host.keypair.private_key, port=ssh_host.port)
    result = run([*ssh, f"{ssh_host.user}@{ssh_host.hostname}", "hostname"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ssh_host.exec(["hostname"]).stdout.strip()
    # The same argv with an empty known_hosts: refused, never asked (BatchMode) or added.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    ssh = pinned_argv("ssh", empty, ssh_host.keypair.private_key, port=ssh_host.port)
    result = run([*ssh, f"{ssh_host.user}@{ssh_host.hostname}", "hostname"])
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr
    assert empty.read_text() == ""
    sftp = pinned_argv("sftp", ssh_host.known_hosts, ssh_host.keypair.private_key, port=22)
    assert sftp[-2:] == ["-P", "22"]


def test_config_pins_the_host(ssh_host: SSHContainer) -> None:
    resolved = ssh_g(ssh_host.config_file, ssh_host.alias)
    assert resolved["hostname"] == "127.0.0.1"
    assert resolved["port"] == str(ssh_host.port)
    assert resolved["user"] == "sandbox"
    assert resolved["identitiesonly"] == "yes"
    assert resolved["stricthostkeychecking"] == "true"
    assert resolved["batchmode"] == "yes"
    assert resolved["userknownhostsfile"] == str(ssh_host.known_hosts)
    assert Path(resolved["identityfile"]) == ssh_host.keypair.private_key
    assert ssh_host.keypair.private_key.stat().st_mode & 0o777 == 0o600


def test_port_is_published_on_loopback_only(ssh_host: SSHContainer) -> None:
    wrapped = ssh_host.container.get_wrapped_container()
    wrapped.reload()
    bindings = wrapped.attrs["NetworkSettings"]["Ports"]["22/tcp"]
    assert bindings
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}


def test_remote_python_is_the_venv(ssh_host: SSHContainer) -> None:
    code = "import sys, ipykernel, jupyter_client; print(sys.prefix)"
    result = run(ssh_host.ssh_argv("python", "-c", f"'{code}'"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/opt/venv"


def test_exec_runs_as_root_in_the_container(ssh_host: SSHContainer) -> None:
    assert ssh_host.exec(["id", "-u"]).stdout.strip() == "0"
    assert ssh_host.exec(["id", "-un"], user="sandbox").stdout.strip() == "sandbox"


def test_sshd_settings(ssh_host: SSHContainer) -> None:
    effective = dict(
        line.split(" ", 1) for line in ssh_host.exec(["sshd", "-T"]).stdout.splitlines()
    )
    assert effective["passwordauthentication"] == "no"
    assert effective["allowtcpforwarding"] == "yes"
    assert effective["gatewayports"] == "clientspecified"
    assert effective["allowstreamlocalforwarding"] == "yes"
    assert effective["streamlocalbindunlink"] == "yes"


def test_changed_host_key_is_refused(ssh_host: SSHContainer, changed_host_key_config: Path) -> None:
    result = run(["ssh", "-F", str(changed_host_key_config), ssh_host.alias, "true"])
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert "Host key verification failed" in result.stderr


def test_dead_port_is_refused(ssh_host: SSHContainer, dead_port_config: Path) -> None:
    result = run(["ssh", "-F", str(dead_port_config), ssh_host.alias, "true"])
    assert result.returncode == 255
    assert "Connection refused" in result.stderr


# -- bastion chain -----------------------------------------------------------------------


def test_bastion_answers(bastion_chain: BastionChain) -> None:
    result = run(bastion_chain.ssh_argv(bastion_chain.bastion_alias, "hostname"))
    assert result.returncode == 0, result.stderr


def test_target_through_the_bastion(bastion_chain: BastionChain) -> None:
    resolved = ssh_g(bastion_chain.config_file, bastion_chain.target_alias)
    assert resolved["proxyjump"] == bastion_chain.bastion_alias
    result = run(bastion_chain.ssh_argv(bastion_chain.target_alias, "hostname"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == bastion_chain.exec_target(["hostname"]).stdout.strip()


def test_target_is_not_reachable_from_the_host(bastion_chain: BastionChain) -> None:
    wrapped = bastion_chain.target.get_wrapped_container()
    wrapped.reload()
    assert not any(wrapped.attrs["NetworkSettings"]["Ports"].values())
    address = bastion_chain.target_address()
    try:
        socket.create_connection((address, 22), timeout=3).close()
    except OSError:
        reached = False
    else:
        reached = True
    assert not reached, f"the host reached the target at {address}:22 directly"
    # ... while the bastion, on the same network, reaches it.
    probe = bastion_chain.exec_bastion(
        ["bash", "-c", f"exec 3<>/dev/tcp/{bastion_chain.target_hostname}/22 && head -c 7 <&3"]
    )
    assert probe.stdout == "SSH-2.0"


# -- jupyter server ----------------------------------------------------------------------


def test_jupyter_status_with_token(jupyter_server: JupyterServer) -> None:
    url = jupyter_server.url + "api/status"
    assert http_status(url, jupyter_server.auth_header()) == 200


def test_jupyter_refuses_without_token(jupyter_server: JupyterServer) -> None:
    url = jupyter_server.url + "api/status"
    assert http_status(url) in {401, 403}
    assert http_status(url, {"Authorization": "token wrong"}) in {401, 403}


def test_jupyter_root_dir_is_the_host_dir(jupyter_server: JupyterServer) -> None:
    assert jupyter_server.host_dir is not None
    (jupyter_server.host_dir / "hello.txt").write_text("hi\n")
    model = http_json(jupyter_server.url + "api/contents/hello.txt", jupyter_server.auth_header())
    assert isinstance(model, dict)
    assert model["content"] == "hi\n"


def test_jupyter_terminals_are_enabled(jupyter_server: JupyterServer) -> None:
    headers = jupyter_server.auth_header()
    terminal = http_json(jupyter_server.url + "api/terminals", headers, method="POST")
    assert isinstance(terminal, dict)
    name = terminal["name"]
    assert http_status(jupyter_server.url + f"api/terminals/{name}", headers, "DELETE") == 204


def test_jupyter_runs_as_non_root(jupyter_server: JupyterServer) -> None:
    assert jupyter_server.exec(["id", "-u"]).stdout.strip() != "0"
    processes = jupyter_server.exec(["ps", "-o", "user=", "-C", "jupyter-server"]).stdout.split()
    assert processes
    assert set(processes) == {"jupyter"}


# -- images ------------------------------------------------------------------------------


def test_ensure_image_twice_builds_nothing_the_second_time(
    harness_images: dict[str, BuiltImage],
) -> None:
    wheels = extra_wheels_from_env()
    first = ensure_image("openssh", extra_wheels=wheels)
    second = ensure_image("openssh", extra_wheels=wheels)
    assert not second.built
    assert first.tag == second.tag == harness_images["openssh"].tag


def test_orphan_cleanup_spares_live_owners(harness_images: dict[str, BuiltImage]) -> None:
    """A run's start-up cleanup removes what a dead run left, not a concurrent run's."""
    dead_pid = _pid_of_finished_process()
    client = docker_client()
    image = harness_images["openssh"].tag
    made = {
        owner: client.containers.create(
            image, command=["true"], labels={**labels_for(TEST_LABEL), OWNER_LABEL: owner}
        )
        for owner in (str(dead_pid), str(os.getppid()))
    }
    try:
        report = cleanup(TEST_LABEL, scope="orphans")
        left = {c.id for c in client.containers.list(all=True, filters={"label": OWNER_LABEL})}
        assert made[str(dead_pid)].id not in left
        assert made[str(os.getppid())].id in left
        assert report.containers >= 1
    finally:
        made[str(os.getppid())].remove(force=True)
        client.close()


def _pid_of_finished_process() -> int:
    process = subprocess.Popen(["true"], stdin=subprocess.DEVNULL)
    process.wait(timeout=10)
    return process.pid


def _printing(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )


def test_read_announcement_reads_one_document_and_fails_bounded(tmp_path: Path) -> None:
    announcing = _printing(
        "import json, time; print(json.dumps({'listen': '127.0.0.1:22'}, indent=2), flush=True);"
        " time.sleep(30)"
    )
    with announcing:
        assert read_announcement(announcing, 30) == {"listen": "127.0.0.1:22"}
        announcing.kill()
    log = tmp_path / "serve.log"
    log.write_text("jupyssh: error: the Jupyter server refused the token\n")
    refused = pytest.raises(HarnessError, match=r"(?s)ended \(status 3\).*refused the token")
    with _printing("import sys; sys.exit(3)") as ended, refused:
        read_announcement(ended, 30, log=log)
    with _printing("import time; time.sleep(30)") as silent:
        with pytest.raises(HarnessError, match="no announcement within 1 s"):
            read_announcement(silent, 1)
        silent.kill()
