"""Shared fixtures: the two reader implementations, side by side."""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from jupyssh.bridge import _reader_py


def _compiled() -> Any:
    try:
        return importlib.import_module("jupyssh.bridge._reader")
    except ImportError:
        return None


COMPILED = _compiled()


def require_compiled() -> Any:
    """The compiled reader module. It must be built: a missing build is a failure here,
    not a skip, unless JUPYSSH_NO_EXTENSIONS=1 asked for a pure build (then nothing
    compiled is used or shipped, and the test is skipped)."""
    if os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1":
        pytest.skip("pure build requested with JUPYSSH_NO_EXTENSIONS=1")
    if COMPILED is None:
        pytest.fail("the compiled reader was not built (see the build hook's warning)")
    return COMPILED


def compiled_path() -> str:
    """The file of the compiled reader (see :func:`require_compiled`)."""
    return str(require_compiled().__file__)


@pytest.fixture(params=["pure", "compiled"])
def reader_module(request: pytest.FixtureRequest) -> Any:
    """``_reader_py`` and ``_reader`` (see :func:`require_compiled`)."""
    if request.param == "pure":
        return _reader_py
    return require_compiled()
