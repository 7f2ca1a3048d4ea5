"""jupyssh.core.jupyter.framing and .messages: the kernel WebSocket wire forms, byte for byte."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyssh.core.jupyter.framing import (
    V1_SUBPROTOCOL,
    decode_legacy,
    decode_v1,
    encode_legacy,
    encode_v1,
    pack_legacy_binary,
    pack_v1,
    unpack_legacy_binary,
    unpack_v1,
)
from jupyssh.core.jupyter.messages import (
    PROTOCOL_VERSION,
    Message,
    comm_close_content,
    comm_msg_content,
    comm_open_content,
    execute_request_content,
    new_message,
)


def _le(*numbers: int) -> bytes:
    return b"".join(n.to_bytes(8, "little") for n in numbers)


def _msg(**kwargs: Any) -> Message:
    kwargs.setdefault("session", "sess")
    return new_message("comm_msg", comm_msg_content("c1", {"k": "é"}), **kwargs)


# --- v1 --------------------------------------------------------------------------------------


def test_subprotocol_name() -> None:
    assert V1_SUBPROTOCOL == "v1.kernel.websocket.jupyter.org"


def test_pack_v1_layout() -> None:
    # 4 offsets: channel start, channel end (= part 0 start), part 0 end, part 1 end
    frame = pack_v1("shell", [b"{}", b"ab"])
    assert frame == _le(4, 40, 45, 47, 49) + b"shell" + b"{}" + b"ab"
    assert unpack_v1(frame) == ("shell", [b"{}", b"ab"])


def test_pack_v1_empty_parts_and_memoryviews() -> None:
    frame = pack_v1("iopub", [b"", memoryview(b"xyz"), bytearray(b"")])
    assert frame == _le(5, 48, 53, 53, 56, 56) + b"iopub" + b"xyz"
    assert unpack_v1(frame) == ("iopub", [b"", b"xyz", b""])
    assert unpack_v1(memoryview(frame)) == ("iopub", [b"", b"xyz", b""])


def test_encode_v1_parts() -> None:
    msg = _msg(channel="shell", buffers=[b"\x00\xff", b""])
    channel, parts = unpack_v1(encode_v1(msg))
    assert channel == "shell"
    assert [json.loads(p) for p in parts[:4]] == [
        msg.header,
        msg.parent_header,
        msg.metadata,
        msg.content,
    ]
    assert parts[4:] == [b"\x00\xff", b""]


def test_decode_v1_round_trip() -> None:
    parent = _msg()
    msg = _msg(channel="iopub", parent=parent, metadata={"m": [1, 2]}, buffers=[bytes(range(256))])
    decoded = decode_v1(encode_v1(msg))
    assert decoded == msg
    assert decoded.parent_id == parent.msg_id
    assert decoded.buffers == [bytes(range(256))]


def test_decode_v1_of_a_server_frame() -> None:
    # What jupyter_server sends: the ZMQ parts after the signature, as the kernel packed them.
    header = (
        b'{"msg_id": "m1", "msg_type": "status", "username": "u", "session": "s", '
        b'"date": "2024-01-01T00:00:00Z", "version": "5.3"}'
    )
    parts = [header, b'{"msg_id": "p1"}', b"{}", b'{"execution_state": "idle"}']
    frame = pack_v1("iopub", parts)
    msg = decode_v1(frame)
    assert (msg.channel, msg.msg_type, msg.msg_id, msg.parent_id) == ("iopub", "status", "m1", "p1")
    assert msg.content == {"execution_state": "idle"}
    assert msg.buffers == []


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"", "too short"),
        (_le(1), "declares 1 offsets"),
        (_le(9, 0), "declares 9 offsets"),
        (_le(2, 24, 24) + b"x", "last offset"),
        (_le(2, 16, 24), "first offset"),
        (_le(3, 32, 34, 33) + b"ab", "decrease"),
        (_le(2, 24, 29) + b"shell", "at least 4"),
        (pack_v1("nowhere", [b"{}"] * 4), "unknown channel"),
        (pack_v1("shell", [b"{}"] * 4), "lacks msg_id"),
        (pack_v1("shell", [b"[]", b"{}", b"{}", b"{}"]), "not a JSON object"),
        (pack_v1("shell", [b"{", b"{}", b"{}", b"{}"]), "not JSON"),
        (pack_v1("shell", [b"\xff", b"{}", b"{}", b"{}"]), "not JSON"),
    ],
)
def test_decode_v1_refuses_malformed_frames(frame: bytes, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        decode_v1(frame)


def test_matches_jupyter_server_v1() -> None:
    """Cross-check with jupyter_server's own functions when it is installed."""
    base = pytest.importorskip("jupyter_server.services.kernels.connection.base")
    parts = [b'{"a":1}', b"{}", b"{}", b'{"b":2}', b"\x00buf"]
    assert pack_v1("control", parts) == base.serialize_msg_to_ws_v1(parts, "control")
    assert unpack_v1(base.serialize_msg_to_ws_v1(parts, "control")) == ("control", parts)
    assert base.deserialize_msg_from_ws_v1(pack_v1("shell", parts)) == ("shell", parts)


# --- legacy ----------------------------------------------------------------------------------


def test_pack_legacy_binary_layout() -> None:
    frame = pack_legacy_binary([b'{"a":1}', b"xy", b""])
    assert frame == struct.pack("!4I", 3, 16, 23, 25) + b'{"a":1}' + b"xy"
    assert unpack_legacy_binary(frame) == [b'{"a":1}', b"xy", b""]


def test_encode_legacy_text_without_buffers() -> None:
    msg = _msg(channel="control")
    frame = encode_legacy(msg)
    assert isinstance(frame, str)
    body = json.loads(frame)
    assert body["channel"] == "control"
    assert body["buffers"] == []
    assert {k: body[k] for k in ("header", "parent_header", "metadata", "content")} == {
        "header": msg.header,
        "parent_header": {},
        "metadata": {},
        "content": msg.content,
    }
    assert decode_legacy(frame) == msg


def test_encode_legacy_binary_with_buffers() -> None:
    msg = _msg(channel="shell", buffers=[b"\x00\x01", bytes(range(256))])
    frame = encode_legacy(msg)
    assert isinstance(frame, bytes)
    parts = unpack_legacy_binary(frame)
    body = json.loads(parts[0])
    assert body["channel"] == "shell"
    assert "buffers" not in body  # the buffers are the frame's other parts
    assert parts[1:] == [b"\x00\x01", bytes(range(256))]
    assert decode_legacy(frame) == msg


def test_decode_legacy_of_a_server_text_frame() -> None:
    # jupyter_server's legacy text form: the whole message dict, spaces and all.
    text = json.dumps(
        {
            "header": {"msg_id": "m", "msg_type": "stream", "date": "2024-01-01T00:00:00.000Z"},
            "msg_id": "m",
            "msg_type": "stream",
            "parent_header": {"msg_id": "p"},
            "metadata": {},
            "content": {"name": "stdout", "text": "hi\n"},
            "buffers": [],
            "channel": "iopub",
        }
    )
    msg = decode_legacy(text)
    assert (msg.channel, msg.msg_type, msg.parent_id, msg.content["text"]) == (
        "iopub",
        "stream",
        "p",
        "hi\n",
    )


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ("[]", "not a JSON object"),
        ("{", "not JSON"),
        ('{"header": {"msg_id": "m", "msg_type": "t"}}', "no channel"),
        ('{"header": {"msg_id": "m", "msg_type": "t"}, "channel": "nope"}', "unknown channel"),
        ('{"header": [], "channel": "shell"}', "not objects: header"),
        ('{"header": {}, "channel": "shell"}', "lacks msg_id"),
        (b"\x00\x00", "too short"),
        (struct.pack("!I", 0), "declares 0 parts"),
        (struct.pack("!2I", 5, 24), "declares 5 parts"),
        (struct.pack("!2I", 1, 4) + b"{}", "first offset"),
        (struct.pack("!3I", 2, 12, 11) + b"{}", "decrease"),
    ],
)
def test_decode_legacy_refuses_malformed_frames(frame: str | bytes, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        decode_legacy(frame)


def test_matches_jupyter_server_legacy_binary() -> None:
    """Cross-check with jupyter_server's own functions when it is installed."""
    base = pytest.importorskip("jupyter_server.services.kernels.connection.base")
    msg = _msg(channel="shell", buffers=[b"\x00\xff", b"tail"])
    served = base.deserialize_binary_message(encode_legacy(msg))
    assert served["channel"] == "shell"
    assert served["content"] == msg.content
    assert [bytes(b) for b in served["buffers"]] == [b"\x00\xff", b"tail"]
    server_msg = {
        "header": dict(msg.header),
        "parent_header": {},
        "metadata": {},
        "content": {"x": 1},
        "channel": "iopub",
        "buffers": [b"abc"],
    }
    decoded = decode_legacy(base.serialize_binary_message(server_msg))
    assert (decoded.channel, decoded.content, decoded.buffers) == ("iopub", {"x": 1}, [b"abc"])


# --- both, as properties ---------------------------------------------------------------------

# Lone surrogates cannot be UTF-8 encoded, so no Jupyter message can hold them.
_text = st.text(st.characters(codec="utf-8"), max_size=20)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_messages = st.builds(
    lambda channel, data, buffers: new_message(
        "comm_msg",
        comm_msg_content("cid", data),
        session="s",
        channel=channel,
        buffers=buffers,
    ),
    st.sampled_from(["shell", "iopub", "stdin", "control"]),
    st.dictionaries(_text, _json_values, max_size=4),
    st.lists(st.binary(max_size=64), max_size=4),
)


@given(_messages)
def test_v1_round_trip(msg: Message) -> None:
    assert decode_v1(encode_v1(msg)) == msg


@given(_messages)
def test_legacy_round_trip(msg: Message) -> None:
    assert decode_legacy(encode_legacy(msg)) == msg


@given(_text, st.lists(st.binary(max_size=40), max_size=6))
def test_pack_v1_round_trip(channel: str, parts: list[bytes]) -> None:
    assert unpack_v1(pack_v1(channel, parts)) == (channel, parts)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=6))
def test_pack_legacy_round_trip(parts: list[bytes]) -> None:
    assert unpack_legacy_binary(pack_legacy_binary(parts)) == parts


# --- messages --------------------------------------------------------------------------------


def test_new_message_header() -> None:
    parent = _msg()
    msg = new_message(
        "execute_request",
        {"code": "1"},
        session="sess",
        username="ada",
        channel="shell",
        parent=parent,
        metadata={"m": 1},
        buffers=[bytearray(b"b"), memoryview(b"v")],
    )
    assert set(msg.header) == {"msg_id", "msg_type", "username", "session", "date", "version"}
    assert msg.header["version"] == PROTOCOL_VERSION
    assert (msg.msg_type, msg.header["session"], msg.header["username"]) == (
        "execute_request",
        "sess",
        "ada",
    )
    assert msg.header["date"].endswith("+00:00")
    assert msg.parent_header == dict(parent.header)
    assert msg.parent_id == parent.msg_id
    assert msg.buffers == [b"b", b"v"]
    assert all(type(b) is bytes for b in msg.buffers)
    assert msg.msg_id != parent.msg_id
    assert _msg().parent_id is None


def test_message_repr_hides_content() -> None:
    msg = new_message("execute_request", execute_request_content("secret = 42"), session="s")
    assert "secret" not in repr(msg)
    assert repr(msg).startswith("Message(shell/execute_request, msg_id=")


def test_content_builders() -> None:
    assert execute_request_content("x") == {
        "code": "x",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    assert comm_open_content("c", "t", {"a": 1}) == {
        "comm_id": "c",
        "target_name": "t",
        "data": {"a": 1},
    }
    assert comm_open_content("c", "t", target_module="m")["target_module"] == "m"
    assert comm_msg_content("c") == {"comm_id": "c", "data": {}}
    assert comm_close_content("c", {"r": 1}) == {"comm_id": "c", "data": {"r": 1}}


def test_nan_is_not_sent() -> None:
    msg = new_message("comm_msg", {"comm_id": "c", "data": {"x": float("nan")}}, session="s")
    with pytest.raises(ValueError, match="JSON"):
        encode_v1(msg)
