"""Kernelspecs: what `jupyssh kernel add` writes, reading it back, editing, deleting, and
refusing what cannot work; the provisioner refusing misspelt options."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyssh.core.cli import cli
from jupyssh.kernel.errors import KernelSpecError
from jupyssh.kernel.provisioner import SSHProvisioner
from jupyssh.kernel.specs import (
    SpecOptions,
    edit_spec,
    install_spec,
    kernel_json,
    list_specs,
    load_options,
    remove_spec,
)


def test_kernel_json_selects_the_provisioner_and_has_an_argv_fallback() -> None:
    spec = kernel_json(SpecOptions(name="lab", host="lab-host", interrupt_mode="signal"))
    assert spec["argv"] == [
        sys.executable,
        "-m",
        "jupyssh.kernel",
        "launch",
        "lab",
        "--connection-file",
        "{connection_file}",
    ]
    provisioner = spec["metadata"]["kernel_provisioner"]
    assert provisioner["provisioner_name"] == "jupyssh"
    assert provisioner["config"]["host"] == "lab-host"
    assert spec["interrupt_mode"] == "signal"
    # every config key is an option the provisioner knows
    assert set(provisioner["config"]) <= set(SSHProvisioner.class_trait_names())


@pytest.mark.usefixtures("jupyter_dirs")
def test_install_load_edit_delete_round_trip() -> None:
    options = SpecOptions(
        name="lab", host="lab-host", env_setup="module load py", cwd="~/w", display_name="Lab"
    )
    folder = install_spec(options)
    assert load_options("lab") == (folder, options)
    with pytest.raises(KernelSpecError, match="exists already"):
        install_spec(options)
    _, changed = edit_spec("lab", {"remote_kernel": "py312", "launch_timeout": 60.0})
    assert changed.value("remote_kernel") == "py312"
    assert changed.value("env_setup") == "module load py"
    rows = {row["name"]: row for row in list_specs()}
    assert rows["lab"]["ssh"]
    assert not rows["sleeper"]["ssh"]
    assert remove_spec("lab") == folder
    assert not folder.exists()


@pytest.mark.usefixtures("jupyter_dirs")
def test_other_kernelspecs_are_left_alone() -> None:
    with pytest.raises(KernelSpecError, match="not a jupyssh kernelspec"):
        remove_spec("sleeper")
    with pytest.raises(KernelSpecError, match="no kernelspec named"):
        load_options("missing")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "a b"}, "invalid kernel name"),
        ({"host": "-oProxyCommand=x"}, "invalid host alias"),
        ({"interrupt_mode": "both"}, "interrupt_mode"),
        ({"transport": "udp"}, "transport"),
        ({"launch_timeout": 0.0}, "positive"),
        ({"linger": -1.0}, "negative"),
        ({"remote_python": " "}, "empty"),
    ],
)
def test_options_that_cannot_work_are_refused(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"name": "ok", "host": "lab", **changes}
    with pytest.raises(KernelSpecError, match=message):
        SpecOptions(**values).validate()  # type: ignore[arg-type]
    # the provisioner itself (what jupyter_client builds from kernel.json) refuses the same
    provisioner_values = {k: v for k, v in values.items() if k not in {"name", "interrupt_mode"}}
    if provisioner_values != {"host": "lab"}:
        with pytest.raises(KernelSpecError, match=message):
            SSHProvisioner(**provisioner_values)


def test_provisioner_refuses_unknown_options_and_a_missing_host() -> None:
    with pytest.raises(KernelSpecError, match="shutdown_time"):
        SSHProvisioner(host="lab", shutdown_time=3)
    with pytest.raises(KernelSpecError, match="host alias"):
        SSHProvisioner()
    assert SSHProvisioner(host="lab", shutdown_timeout=4.0).get_shutdown_wait_time() == 4.0


@pytest.mark.usefixtures("jupyter_dirs")
def test_cli_add_show_list_delete_without_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli, ["kernel", "add", "lab", "lab-host", "--no-check", "--transport", "ipc"]
    )
    assert added.exit_code == 0, added.output
    shown = runner.invoke(cli, ["kernel", "show", "lab", "--json"])
    assert json.loads(shown.stdout)["options"]["transport"] == "ipc"
    listed = runner.invoke(cli, ["kernel", "list", "--no-check", "--json"])
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["lab"]["ssh"]
    assert not rows["sleeper"]["ssh"]
    edited = runner.invoke(cli, ["kernel", "edit", "lab", "--persistent", "--json"])
    assert json.loads(edited.stdout)["options"]["persistent"] is True
    removed = runner.invoke(cli, ["kernel", "remove", "lab", "--json"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["name"] == "lab"
