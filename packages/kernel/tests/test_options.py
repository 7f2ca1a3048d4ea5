"""The kernel options are declared once (the provisioner's traits): the CLI of add/edit and
the docs table are derived from them, and an edit keeps every key it does not change."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from traitlets import List

from jupyssh.core.cli import cli
from jupyssh.kernel.cli import add, edit
from jupyssh.kernel.errors import KernelSpecError
from jupyssh.kernel.options import NOT_ON_CLI, SpecFields, markdown_table
from jupyssh.kernel.provisioner import SSHProvisioner

ROOT = Path(__file__).resolve().parents[3]
#: Options of add/edit that are not kernel options (how the command itself behaves).
COMMAND_OWN = {"config_file", "no_check", "replace", "verbose", "help", "old_host", "alias"}


def _traits() -> dict[str, Any]:
    return {**SSHProvisioner.class_traits(config=True), **SpecFields.class_traits()}


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


def _default_text(trait: Any) -> str:
    if isinstance(trait, List):
        return ""  # a list's default is empty: nothing to show
    value = trait.default_value
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _flag(name: str, trait: Any) -> str:
    """The option's flag: its name, or the one its trait declares (``--sbatch-arg``)."""
    return str(trait.metadata.get("flag") or f"--{name.replace('_', '-')}")


def test_cli_options_are_the_traits() -> None:
    traits = _traits()
    for command, shows_default in ((add, True), (edit, False)):
        params = _options(command)
        declared = {name for name in params if name not in COMMAND_OWN and name != "as_json"}
        # every option of the command is a trait; every trait not given otherwise is one
        expected = set(traits) - set(NOT_ON_CLI) | ({"host"} if command is edit else set())
        assert declared == expected, command.name
        for name in declared:
            param, trait = params[name], traits[name]
            assert _flag(name, trait) in param.opts
            assert param.default is None  # unset options are not written, not changed
            assert param.help is not None
            assert param.help.startswith(trait.help)
            text = _default_text(trait)
            wanted = f"[default: {text}]" if shows_default and text and name != "host" else None
            assert (wanted in param.help) if wanted else "[default:" not in param.help
            if hasattr(trait, "values"):
                assert isinstance(param.type, click.Choice)
                assert list(param.type.choices) == list(trait.values)


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_table_is_generated_from_the_traits() -> None:
    table = markdown_table().splitlines()
    rows = {line.split(" | ")[1].split("`")[1]: line for line in table[2:]}
    traits = _traits()
    assert set(rows) == set(traits)
    for name, trait in traits.items():
        assert trait.help.replace("|", "\\|") in rows[name]
        if name not in NOT_ON_CLI:
            assert f"`{_flag(name, trait)}`" in rows[name]
        text = _default_text(trait)
        if text and name != "host":
            assert f"`{text}`" in rows[name]
    # the page shows this table (through the mkdocs hook), and types no other one in
    page = (ROOT / "docs" / "packages" / "kernel.md").read_text(encoding="utf-8")
    assert page.count("{{ kernel_options }}") == 1
    assert "kernel.json key" not in page
    rendered = _hook().on_page_markdown(page)
    assert markdown_table() in rendered


@pytest.mark.usefixtures("jupyter_dirs")
def test_kernel_edit_keeps_keys_unknown_to_the_cli(jupyter_dirs: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["kernel", "add", "lab", "lab-host", "--no-check"])
    assert added.exit_code == 0, added.output
    path = jupyter_dirs / "kernels" / "lab" / "kernel.json"
    spec = json.loads(path.read_text())
    spec["metadata"]["kernel_provisioner"]["config"].update(linger=60, x_site_note="keep me")
    spec["env"] = {"OMP_NUM_THREADS": "4"}
    spec["metadata"]["other_tool"] = {"colour": "blue"}
    path.write_text(json.dumps(spec))

    edited = runner.invoke(cli, ["kernel", "edit", "lab", "--cwd", "/data"])
    assert edited.exit_code == 0, edited.output
    after = json.loads(path.read_text())
    config = after["metadata"]["kernel_provisioner"]["config"]
    assert config == {"host": "lab-host", "linger": 60, "x_site_note": "keep me", "cwd": "/data"}
    assert after["env"] == {"OMP_NUM_THREADS": "4"}
    assert after["metadata"]["other_tool"] == {"colour": "blue"}
    assert after["argv"] == spec["argv"]


@pytest.mark.usefixtures("jupyter_dirs")
def test_add_writes_only_the_options_given() -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli, ["kernel", "add", "lab", "lab-host", "--no-check", "--linger", "60", "--json"]
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(added.stdout)["options"]
    assert shown["linger"] == 60.0
    assert shown["launch_timeout"] == 30.0  # the default, shown but not written
    spec = json.loads(runner.invoke(cli, ["kernel", "show", "lab", "--json"]).stdout)
    assert spec["options"]["linger"] == 60.0


@pytest.mark.usefixtures("jupyter_dirs")
def test_invalid_values_are_refused_by_the_traits() -> None:
    runner = CliRunner()
    refused = runner.invoke(cli, ["kernel", "add", "lab", "lab-host", "--no-check", "--linger=-1"])
    assert isinstance(refused.exception, KernelSpecError)  # main() prints it, exit 3
    assert "linger must not be negative" in str(refused.exception)


@pytest.mark.usefixtures("jupyter_dirs")
def test_old_spellings_still_work_with_one_deprecation_line() -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["kernel", "add", "lab", "--host", "lab-host", "--no-check"])
    assert added.exit_code == 0, added.output
    assert added.stderr.splitlines()[0] == (
        "jupyssh: --host is deprecated; use: jupyssh kernel add NAME ALIAS"
    )
    both = runner.invoke(cli, ["kernel", "add", "x", "a", "--host", "b", "--no-check"])
    assert both.exit_code == 2
    missing = runner.invoke(cli, ["kernel", "add", "x", "--no-check"])
    assert missing.exit_code == 2
    assert "ALIAS" in missing.stderr
    assert "delete" not in runner.invoke(cli, ["kernel", "--help"]).stdout
    deleted = runner.invoke(cli, ["kernel", "delete", "lab"])
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stderr.splitlines() == [
        "jupyssh: kernel delete is deprecated; use: jupyssh kernel remove NAME"
    ]
    launched = runner.invoke(cli, ["kernel", "launch", "--kernel", "lab"])
    assert launched.stderr.splitlines()[0] == (
        "jupyssh: --kernel is deprecated; use: jupyssh kernel launch NAME"
    )
    assert isinstance(launched.exception, KernelSpecError)  # the spec is gone
    assert "no kernelspec named 'lab'" in str(launched.exception)
