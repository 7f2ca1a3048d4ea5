"""Bounded polling for the tests: wait until something the test cannot be told about
(a kernel deleted on the server, a file written by a child process) has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["until", "wait_for"]

#: Seconds between two looks.
INTERVAL = 0.2


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, *, interval: float = INTERVAL
) -> None:
    """Return once ``predicate()`` is true; fail the test (``AssertionError`` naming
    ``what``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def until(
    predicate: Callable[[], bool], timeout: float, what: str, *, interval: float = INTERVAL
) -> None:
    """The async twin of :func:`wait_for`: the event loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
