"""Fixtures of jupyssh-hub's integration tests: a real JupyterHub (``containers/hub``) with
users alice, bob and carol, the ``jupyssh`` service's token, and per-user tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jupyssh_harness import BuiltImage, JupyterHub, start_jupyterhub


@pytest.fixture(scope="session")
def hub_image(harness_images: dict[str, BuiltImage]) -> str:
    return harness_images["hub"].tag


@pytest.fixture(scope="module")
def hub(hub_image: str) -> Iterator[JupyterHub]:
    """A running hub, shared by the module: tests start servers, and stop what they change."""
    with start_jupyterhub(hub_image) as running:
        yield running
