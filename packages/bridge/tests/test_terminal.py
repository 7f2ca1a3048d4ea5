"""The terminals backend's mapping to terminado's JSON protocol, and the backend choice
(no server: the integration tests drive a real one)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from jupyssh.bridge.channel import ChannelRequest, PtyRequest
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.bridge.terminal import (
    StdinDecoder,
    TerminalChannel,
    decode_server_message,
    set_size_message,
    stdin_message,
)
from jupyssh.core.jupyter import JupyterClient


def test_stdin_message() -> None:
    assert json.loads(stdin_message("ls\r")) == ["stdin", "ls\r"]


def test_set_size_puts_rows_first_and_never_zero() -> None:
    assert json.loads(set_size_message(cols=120, rows=40)) == ["set_size", 40, 120]
    assert json.loads(set_size_message(cols=0, rows=0)) == ["set_size", 1, 1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps(["stdout", "h\u00e9\r\n"]), ("stdout", "h\u00e9\r\n".encode())),
        (json.dumps(["stdout", "\ufffd"]), ("stdout", b"\xef\xbf\xbd")),
        (json.dumps(["setup", {}]), ("setup", b"")),
        (json.dumps(["disconnect", 1]), ("disconnect", b"")),
        (json.dumps(["stdout", 3]), ("ignore", b"")),
        (json.dumps(["something-new", "x"]), ("ignore", b"")),
        (json.dumps({"stdout": "x"}), ("ignore", b"")),
        (json.dumps([]), ("ignore", b"")),
        ("not json", ("ignore", b"")),
        (b'["stdout", "bytes frame"]', ("stdout", b"bytes frame")),
    ],
)
def test_decode_server_message(raw: str | bytes, expected: tuple[str, bytes]) -> None:
    assert decode_server_message(raw) == expected


def test_stdin_decoder_keeps_a_split_character_whole() -> None:
    decoder = StdinDecoder()
    encoded = "\u00e9\u20ac".encode()
    pieces = [decoder.decode(encoded[i : i + 1]) for i in range(len(encoded))]
    assert "".join(pieces) == "\u00e9\u20ac"
    assert pieces[0] == ""  # nothing sent until the character is complete


def test_stdin_decoder_replaces_bytes_that_are_not_utf8() -> None:
    decoder = StdinDecoder()
    assert decoder.decode(b"a\xffb") == "a\ufffdb"
    assert decoder.decode(b"\xc3", final=True) == "\ufffd"


@pytest.fixture
def server() -> BridgeServer:
    return BridgeServer(
        JupyterClient("http://127.0.0.1:9/"), None, BridgeConfig(backend="terminals")
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (ChannelRequest(pty=PtyRequest("xterm", 80, 24)), True),  # ssh host
        (ChannelRequest(pty=PtyRequest("xterm", 80, 24), command="top"), False),  # ssh -t host top
        (ChannelRequest(), False),  # ssh -T host: a shell on pipes
        (ChannelRequest(command="ls"), False),
    ],
)
def test_only_interactive_shells_go_to_terminals(
    server: BridgeServer, request_: ChannelRequest, expected: bool
) -> None:
    try:
        assert server.serves_with_terminal(request_) is expected
    finally:
        server.close()


def test_kernel_backend_never_uses_terminals() -> None:
    server = BridgeServer(JupyterClient("http://127.0.0.1:9/"), None, BridgeConfig())
    try:
        assert not server.serves_with_terminal(ChannelRequest(pty=PtyRequest("xterm", 80, 24)))
    finally:
        server.close()


class _Transport:
    def __init__(self) -> None:
        self.aborted = asyncio.Event()

    def abort(self) -> None:
        self.aborted.set()


class _SilentTerminalSocket:
    """A terminal WebSocket whose server has gone quiet: no output, and a closing
    handshake that only an abort of the transport ends."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.reading = threading.Event()

    def __aiter__(self) -> _SilentTerminalSocket:
        return self

    async def __anext__(self) -> str:
        self.reading.set()
        await asyncio.Event().wait()
        raise StopAsyncIteration

    async def send(self, message: str) -> None:
        pass

    async def close(self) -> None:
        await self.transport.aborted.wait()


class _TerminalServer:
    def __init__(self, ws: _SilentTerminalSocket) -> None:
        self.ws = ws
        self.deleted: list[str] = []

    async def create_terminal(self) -> dict[str, str]:
        return {"name": "7"}

    async def connect_terminal(self, name: str) -> _SilentTerminalSocket:
        return self.ws

    async def delete_terminal(self, name: str) -> None:
        self.deleted.append(name)


class _QuietChannel:
    """The client side: it types nothing until the test lets it go."""

    def __init__(self) -> None:
        self.closed = False
        self.status_event = threading.Event()
        self.release = threading.Event()

    def get_id(self) -> int:
        return 3

    def get_transport(self) -> None:
        return None

    def recv(self, size: int) -> bytes:
        self.release.wait(30)
        self.closed = True
        return b""


def test_a_stopping_loop_aborts_the_terminal_socket_and_deletes_the_terminal() -> None:
    """LoopThread.stop gives its tasks 5 s; a closing handshake with a quiet server must
    not outlast that and leave the socket open in a closed loop."""
    io = LoopThread()
    ws = _SilentTerminalSocket()
    server = _TerminalServer(ws)
    channel = _QuietChannel()
    terminal = TerminalChannel(io, server, channel, ChannelRequest())  # type: ignore[arg-type]
    try:
        terminal.start()
        assert ws.reading.wait(10), "the terminal never started reading"
        io.stop()
        assert ws.transport.aborted.is_set()
        assert server.deleted == ["7"]
    finally:
        channel.release.set()
        io.stop()
