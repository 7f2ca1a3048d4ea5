"""Shared fixtures: the two reader implementations, side by side."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from jupyssh.bridge import _reader_py


def _compiled() -> Any:
    try:
        return importlib.import_module("jupyssh.bridge._reader")
    except ImportError:
        return None


COMPILED = _compiled()


@pytest.fixture(params=["pure", "compiled"])
def reader_module(request: pytest.FixtureRequest) -> Any:
    """``_reader_py`` and ``_reader`` (the compiled twin must be built: a missing build is
    a failure here, not a skip, unless JUPYSSH_NO_EXTENSIONS=1 asked for a pure build)."""
    if request.param == "pure":
        return _reader_py
    if COMPILED is None:
        import os

        if os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1":
            pytest.skip("pure build requested with JUPYSSH_NO_EXTENSIONS=1")
        pytest.fail("the compiled reader was not built (see the build hook's warning)")
    return COMPILED
