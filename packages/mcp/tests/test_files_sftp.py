"""The SFTP session's bound: through a control master the ssh client's pipes outlive the
client (the master holds them), so a session whose far end never answers must still end
at its timeout, with a clear error, and leave no thread waiting. A local stand-in plays
that: the "subsystem" leaves a child holding the pipes and never answers."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from jupyssh.core.errors import OperationTimeoutError
from jupyssh.mcp.providers.files_sftp import open_sftp

pytestmark = pytest.mark.asyncio


class SilentHost:
    """``command_argv`` gives a process whose child keeps the pipes and says nothing."""

    async def start_master(self) -> int:
        return 1

    async def command_argv(self, command: Sequence[str]) -> list[str]:
        return ["sh", "-c", "sleep 5 & sleep 5", "--", "lab", *command]


async def test_a_session_whose_far_end_never_answers_ends_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(OperationTimeoutError, match="did not finish within 1 s"):
        async with open_sftp(SilentHost(), "lab", None, timeout=1):  # type: ignore[arg-type]
            raise AssertionError("the session opened")
    # The error comes from the handshake's worker thread giving up its wait: a read that
    # waited on the pipes would have ended only with the child holding them, at 5 s.
    assert time.monotonic() - started < 4
