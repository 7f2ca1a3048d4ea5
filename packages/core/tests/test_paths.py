"""Where jupyssh keeps its files, and that every folder it creates is private."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jupyssh.core.paths import config_dir, ensure_private_dir, state_dir


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022: folders made without an explicit mode come out 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("loose_umask")
@pytest.mark.parametrize("base", [config_dir, state_dir])
def test_finding_19b_every_folder_created_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: Callable[[], Path]
) -> None:
    """Security finding 19b: the intermediate folders were created 0755."""
    monkeypatch.setenv("JUPYSSH_HOME", str(tmp_path / "home"))
    leaf = ensure_private_dir(base() / "host_keys" / "deeper")

    created = [leaf, leaf.parent, leaf.parent.parent, tmp_path / "home"]
    assert {folder: _mode(folder) for folder in created} == dict.fromkeys(created, 0o700)


@pytest.mark.usefixtures("loose_umask")
def test_existing_parents_are_left_alone_and_a_loose_leaf_is_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    leaf = shared / "mine"
    leaf.mkdir()
    leaf.chmod(0o755)

    ensure_private_dir(leaf / "child")
    ensure_private_dir(leaf)

    assert _mode(shared) == 0o755  # not jupyssh's folder: not changed
    assert _mode(leaf) == 0o700
    assert _mode(leaf / "child") == 0o700
