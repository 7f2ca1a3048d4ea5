"""The generated reference pages (``docs/hooks.py``): complete, and true to the code."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import jupyssh
from jupyssh.core import cli
from jupyssh.core.errors import JupysshError, installed_error_classes

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jupyssh_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _every_error_class() -> list[type[JupysshError]]:
    """Import every module of every installed jupyssh package, then collect the tree."""
    for info in pkgutil.walk_packages(jupyssh.__path__, "jupyssh."):
        if not info.name.endswith("__main__"):  # running it would start a command
            importlib.import_module(info.name)
    found, stack = [], [JupysshError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("jupyssh.")]


def test_every_error_class_of_every_installed_package_is_in_the_reference(
    hooks: ModuleType,
) -> None:
    page = hooks.error_table()
    every = _every_error_class()
    assert {cls.__module__.split(".")[1] for cls in every} >= {"core", "kernel", "tunnel"}
    missing = {
        f"{cls.__module__}.{cls.__name__}"
        for cls in every
        if f"`{cls.__module__}.{cls.__name__}`" not in page
    }
    assert missing == set()


def test_the_reference_has_each_kind_once_with_its_exit_status(hooks: ModuleType) -> None:
    page = hooks.error_table()
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d+) \|", page, re.MULTILINE)
    kinds = [kind for kind, _ in rows]
    assert len(kinds) == len(set(kinds))  # a kind names one class across all packages
    assert ("kernel-launch", "10") in rows  # a package's own status (was missing)
    assert ("authentication", "5") in rows
    assert len(rows) == len(installed_error_classes())
    assert "### jupyssh-core" in page
    assert "### jupyssh-kernel" in page


def test_exit_status_table_matches_the_constants(hooks: ModuleType) -> None:
    table = hooks.exit_status_table()
    statuses = dict(re.findall(r"^\| (\d+) \| (.+) \|$", table, re.MULTILINE))
    for code, meaning in cli.EXIT_STATUSES.items():
        assert statuses[str(code)].startswith(meaning)
    assert (cli.EXIT_INTERNAL, cli.EXIT_FOUND_PROBLEMS, cli.EXIT_USAGE) == (70, 1, 2)
    for cls in installed_error_classes():
        if cls is not JupysshError:
            assert f"`{cls.kind}`" in statuses[str(cls.exit_code)]
    assert set(statuses) == {str(code) for code in [*range(11), 70, 130]}


def test_command_table_lists_every_command(hooks: ModuleType) -> None:
    table = hooks.command_table()
    assert "| `jupyssh sshconfig check [OPTIONS] ALIAS` | Check ALIAS" in table
    # a pipe inside a code span is not a cell border (Python-Markdown's tables)
    assert "`jupyssh host master [OPTIONS] {check|start|stop} ALIAS`" in table
    commands = re.findall(r"^\| `jupyssh ([a-z -]+?) (?:\[|[A-Z{])", table, re.MULTILINE)
    assert {"host run", "sshconfig suggest", "kernel add", "tunnel reverse add"} <= set(commands)
    # every row has its three cells (no stray | from a usage line or a docstring)
    assert all(line.count(" | ") == 2 for line in table.splitlines()[2:])


def test_every_placeholder_is_filled(hooks: ModuleType) -> None:
    for page in ("cli.md", "errors.md"):
        text = hooks.on_page_markdown((ROOT / "docs" / page).read_text())
        assert "{{" not in text, page
