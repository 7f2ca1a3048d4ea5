"""jupyssh-sshconfig ``--connect`` against real sshd containers: a good alias, a bastion
chain hop by hop, and one named cause per way a login fails.

No test reaches beyond 127.0.0.1 and the containers: the unresolvable names have a
64-character label, which the resolver library rejects before sending any query.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyssh_harness import BastionChain, HostEntry, SSHContainer, write_ssh_config

from jupyssh.core.ssh import SSHHost
from jupyssh.core.testing import run_cli
from jupyssh.sshconfig import Report, Role, Severity, check

UNRESOLVABLE = "a" * 64 + ".invalid"


def _write(path: Path, *entries: HostEntry) -> str:
    return str(write_ssh_config(path, entries))


def _cause(report: Report, hop: str) -> str | None:
    (finding,) = report.find("JS601", hop)
    assert finding.severity is Severity.ERROR, finding
    return finding.value


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A folder with a short path for control sockets (they must fit sun_path)."""
    folder = Path(tempfile.mkdtemp(prefix="scm"))
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_good_alias_passes(ssh_host: SSHContainer) -> None:
    report = check(ssh_host.alias, Role.CLIENT, True, str(ssh_host.config_file))
    assert report.ok, report.to_json()
    (login,) = report.find("JS601", ssh_host.alias)
    assert login.severity is Severity.OK
    connect = report.hops[0].connect
    assert connect is not None
    assert connect.ok
    assert connect.seconds is not None
    assert 0 < connect.seconds < 10


def test_kernel_role_starts_checks_and_stops_a_master(
    ssh_host: SSHContainer, tmp_path: Path, socket_dir: Path
) -> None:
    entry = dataclasses.replace(
        ssh_host.entry(),
        options={
            "ControlMaster": "auto",
            "ControlPath": f"{socket_dir}/cm-%C",
            "ControlPersist": "1m",
            "ServerAliveInterval": "15",
        },
    )
    config = _write(tmp_path / "ssh_config", entry)
    report = check(ssh_host.alias, Role.KERNEL, True, config)
    assert report.ok, report.to_json()
    (master,) = report.find("JS602")
    assert master.severity is Severity.OK
    assert "started and stopped again" in master.message
    assert SSHHost(ssh_host.alias, config_file=config).master_pid() is None


def test_bastion_chain_passes_hop_by_hop(bastion_chain: BastionChain) -> None:
    config = str(bastion_chain.config_file)
    report = check(bastion_chain.target_alias, Role.CLIENT, True, config)
    assert [hop.spec for hop in report.hops] == [
        bastion_chain.bastion_alias,
        bastion_chain.target_alias,
    ]
    for hop in report.hops:
        (login,) = report.find("JS601", hop.spec)
        assert login.severity is Severity.OK, report.to_json()
        assert hop.connect is not None
        assert hop.connect.ok
    assert report.hops[1].via == (bastion_chain.bastion_alias,)
    assert report.ok, report.to_json()


def test_wrong_key_is_an_authentication_failure(ssh_host: SSHContainer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    entry = dataclasses.replace(ssh_host.entry(), identity_file=other)
    report = check(ssh_host.alias, Role.CLIENT, True, _write(tmp_path / "ssh_config", entry))
    assert _cause(report, ssh_host.alias) == "authentication"
    assert report.exit_status == 1


def test_dead_port_is_refused(ssh_host: SSHContainer, dead_port_config: Path) -> None:
    report = check(ssh_host.alias, Role.CLIENT, True, str(dead_port_config))
    assert _cause(report, ssh_host.alias) == "connection-refused"


def test_unknown_host_key(ssh_host: SSHContainer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = ssh_host.write_config(tmp_path / "ssh_config", known_hosts=empty)
    report = check(ssh_host.alias, Role.CLIENT, True, str(config))
    assert _cause(report, ssh_host.alias) == "host-key-unknown"


def test_changed_host_key(ssh_host: SSHContainer, changed_host_key_config: Path) -> None:
    report = check(ssh_host.alias, Role.CLIENT, True, str(changed_host_key_config))
    assert _cause(report, ssh_host.alias) == "host-key-changed"


def test_unresolvable_name(ssh_host: SSHContainer, tmp_path: Path) -> None:
    entry = dataclasses.replace(ssh_host.entry(), hostname=UNRESOLVABLE)
    report = check(ssh_host.alias, Role.CLIENT, True, _write(tmp_path / "ssh_config", entry))
    assert _cause(report, ssh_host.alias) == "name-resolution"
    assert report.find("JS102")[0].severity is Severity.ERROR


def test_unresolvable_name_behind_the_bastion(bastion_chain: BastionChain, tmp_path: Path) -> None:
    text = bastion_chain.config_file.read_text().replace(
        f"HostName {bastion_chain.target_hostname}\n", f"HostName {UNRESOLVABLE}\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(text)
    config.chmod(0o600)
    report = check(bastion_chain.target_alias, Role.CLIENT, True, str(config))
    (bastion,) = report.find("JS601", bastion_chain.bastion_alias)
    assert bastion.severity is Severity.OK
    assert _cause(report, bastion_chain.target_alias) == "name-resolution"
    assert not report.find("JS102", bastion_chain.target_alias)  # the bastion resolves it


def test_cli_connect_json(ssh_host: SSHContainer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sshconfig", "check", ssh_host.alias, "-F", str(ssh_host.config_file)]
    code, out, err = run_cli(capsys, *argv, "--connect", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["connected"] is True
    assert document["hops"][0]["connect"]["ok"] is True
    assert document["hops"][0]["connect"]["seconds"] > 0
