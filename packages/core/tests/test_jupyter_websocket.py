"""jupyssh.core.jupyter.websocket and JupyterClient.connect_terminal: the token in the
header, the terminal's URL, and every handshake failure as a typed error (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.http11 import Response

import jupyssh.core.jupyter.websocket as websocket_module
from jupyssh.core.errors import (
    JupyterAuthError,
    JupyterError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.jupyter.urls import terminal_websocket_url
from jupyssh.core.jupyter.websocket import QuickAcks, connect_websocket

TOKEN = "6c4b1d0e2f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://h:8888/", "ws://h:8888/terminals/websocket/1"),
        ("https://h/user/x/", "wss://h/user/x/terminals/websocket/1"),
    ],
)
def test_terminal_websocket_url(base: str, expected: str) -> None:
    assert terminal_websocket_url(base, "1") == expected


def test_terminal_websocket_url_quotes_the_name() -> None:
    assert terminal_websocket_url("http://h/", "a b/c").endswith("/terminals/websocket/a%20b%2Fc")


@pytest.mark.asyncio
async def test_connect_terminal_sends_the_token_in_the_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    async def accept(url: str, **kwargs: Any) -> str:
        seen.update(kwargs, url=url)
        return "connection"

    monkeypatch.setattr(websocket_module, "ws_connect", accept)
    async with JupyterClient(f"http://h:8888/?token={TOKEN}") as client:
        assert await client.connect_terminal("3") == "connection"  # type: ignore[comparison-overlap]
    assert seen["url"] == "ws://h:8888/terminals/websocket/3"
    assert seen["additional_headers"] == {"Authorization": f"token {TOKEN}"}
    assert TOKEN not in seen["url"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, JupyterAuthError),
        (403, JupyterAuthError),
        (404, JupyterNotFoundError),
        (500, JupyterError),
    ],
)
async def test_handshake_statuses(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: type[Exception]
) -> None:
    async def refuse(url: str, **kwargs: Any) -> Any:
        raise InvalidStatus(Response(status, "No", Headers()))

    monkeypatch.setattr(websocket_module, "ws_connect", refuse)
    with pytest.raises(kind, match=f"refused the terminal WebSocket \\(HTTP {status}\\)"):
        await connect_websocket("ws://h/t", token=TOKEN, what="terminal WebSocket")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), OperationTimeout),
        (asyncio.TimeoutError(), OperationTimeout),
        (ConnectionRefusedError(111, f"refused ?token={TOKEN}"), JupyterError),
    ],
)
async def test_handshake_failures(
    monkeypatch: pytest.MonkeyPatch, error: Exception, kind: type[Exception]
) -> None:
    async def fail(url: str, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(websocket_module, "ws_connect", fail)
    with pytest.raises(kind) as info:
        await connect_websocket(f"ws://h/t?token={TOKEN}", token=TOKEN, what="terminal")
    assert TOKEN not in str(info.value)
    assert TOKEN not in str(info.value.where)  # type: ignore[attr-defined]


# --- QuickAcks ------------------------------------------------------------------------------


async def _let_the_pong_run() -> None:
    """Two turns of the loop: the pong task starts, then its pong() returns."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class Ponger:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.pongs = 0
        self.fail = fail

    async def pong(self, data: bytes = b"") -> None:
        self.pongs += 1
        if self.fail is not None:
            raise self.fail


@pytest.mark.asyncio
async def test_quick_acks_send_one_pong_for_frames_received_together() -> None:
    ws = Ponger()
    acks = QuickAcks(ws)
    acks.received(10)
    acks.received(10)  # before the first pong left: that pong acknowledges both
    await _let_the_pong_run()
    assert ws.pongs == 1
    acks.received(10)
    await _let_the_pong_run()
    assert ws.pongs == 2


@pytest.mark.asyncio
async def test_quick_acks_ignore_a_closed_connection() -> None:
    ws = Ponger(ConnectionClosedOK(None, None))
    acks = QuickAcks(ws)
    acks.received(10)
    await _let_the_pong_run()
    assert ws.pongs == 1
    acks.received(10)  # the failed pong did not leave the helper stuck
    await _let_the_pong_run()
    assert ws.pongs == 2


@pytest.mark.asyncio
async def test_quick_acks_close_cancels_a_pending_pong() -> None:
    ws = Ponger()
    acks = QuickAcks(ws)
    acks.received(10)
    acks.close()
    await asyncio.sleep(0)
    assert ws.pongs == 0


@pytest.mark.asyncio
async def test_quick_acks_leave_large_frames_alone() -> None:
    ws = Ponger()
    acks = QuickAcks(ws, max_frame=1000)
    acks.received(1001)  # a bulk transfer's message: its segments are acknowledged anyway
    await _let_the_pong_run()
    assert ws.pongs == 0
    acks.received(1000)
    await _let_the_pong_run()
    assert ws.pongs == 1
