"""jupyssh-mcp's own error classes (the others are jupyssh-core's); a tool turns any of
them into one clear tool error."""

from __future__ import annotations

from typing import ClassVar

from jupyssh.core.errors import JupysshError

__all__ = ["SchedulerError"]


class SchedulerError(JupysshError):
    """The cluster's scheduler refused or failed a job operation (its own words)."""

    kind = "scheduler"
    facts: ClassVar[dict[str, str | int]] = {"reason": ""}
