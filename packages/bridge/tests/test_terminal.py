"""The terminals backend's mapping to terminado's JSON protocol, and the backend choice
(no server: the integration tests drive a real one)."""

from __future__ import annotations

import json

import pytest

from jupyssh.bridge.channel import ChannelRequest, PtyRequest
from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.bridge.terminal import (
    StdinDecoder,
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
