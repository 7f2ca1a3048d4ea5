"""Unit tests of jupyssh-tunnel: no containers, no network; a private JUPYSSH_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "jupyssh-home"
    monkeypatch.setenv("JUPYSSH_HOME", str(home))
    return home
