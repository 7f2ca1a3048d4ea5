"""Kernel WebSocket wire forms: the ``v1.kernel.websocket.jupyter.org`` frames and the legacy ones.

jupyter_server (``services/kernels/connection/base.py`` and ``channels.py``) speaks two
forms on ``/api/kernels/<id>/channels``:

v1 (the subprotocol ``v1.kernel.websocket.jupyter.org``, selected in the handshake).
    Every message is one binary frame::

        n                      8 bytes, little-endian: how many offsets follow
        offset[0..n-1]         8 bytes each, little-endian, from the frame's start
        channel                UTF-8, from offset[0] to offset[1]
        part[i]                from offset[i+1] to offset[i+2]

    so ``offset[0] == 8 * (n + 1)`` and the last offset is the frame's length. The parts
    are the ZMQ message parts without identities and signature: JSON ``header``,
    ``parent_header``, ``metadata``, ``content``, then the raw buffers. The server signs
    and forwards the parts as they are.

legacy (no subprotocol).
    A message without buffers is one text frame: the JSON message with a ``channel``
    key. A message with buffers is one binary frame::

        nbufs                  4 bytes, big-endian: the JSON part plus each buffer
        offset[0..nbufs-1]     4 bytes each, big-endian, from the frame's start
        parts                  the JSON message (with ``channel``), then the buffers

Pure functions, no I/O: ``KernelConnection`` calls them; unit tests check them against
frames built by hand. Malformed frames raise ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from typing import Any, cast

from jupyssh.core.jupyter.messages import CHANNELS, Buffer, Channel, Message, MessageHeader

__all__ = [
    "V1_SUBPROTOCOL",
    "decode_legacy",
    "decode_v1",
    "encode_legacy",
    "encode_v1",
    "pack_legacy_binary",
    "pack_v1",
    "unpack_legacy_binary",
    "unpack_v1",
]

V1_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"

_V1_WORD = 8
_LEGACY_WORD = 4
_JSON_PARTS = ("header", "parent_header", "metadata", "content")


# --- v1 --------------------------------------------------------------------------------------


def pack_v1(channel: str, parts: Sequence[Buffer]) -> bytes:
    """One v1 frame holding ``channel`` and ``parts``."""
    channel_bytes = channel.encode("utf-8")
    count = len(parts) + 2  # channel start, channel end = first part start, each part's end
    offsets = [_V1_WORD * (count + 1)]
    offsets.append(offsets[-1] + len(channel_bytes))
    for part in parts:
        offsets.append(offsets[-1] + memoryview(part).nbytes)
    table = b"".join(n.to_bytes(_V1_WORD, "little") for n in (count, *offsets))
    return b"".join([table, channel_bytes, *(bytes(p) for p in parts)])


def unpack_v1(frame: Buffer) -> tuple[str, list[bytes]]:
    """The channel and parts of a v1 frame."""
    data = memoryview(frame).cast("B")
    if len(data) < _V1_WORD:
        raise ValueError(f"v1 frame too short for its offset count ({len(data)} bytes)")
    count = int.from_bytes(data[:_V1_WORD], "little")
    table_end = _V1_WORD * (count + 1)
    if count < 2 or table_end > len(data):
        raise ValueError(f"v1 frame declares {count} offsets in {len(data)} bytes")
    offsets = [
        int.from_bytes(data[_V1_WORD * (i + 1) : _V1_WORD * (i + 2)], "little")
        for i in range(count)
    ]
    _check_offsets(offsets, table_end, len(data), "v1")
    channel = bytes(data[offsets[0] : offsets[1]]).decode("utf-8")
    parts = [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(1, count - 1)]
    return channel, parts


def encode_v1(msg: Message) -> bytes:
    """``msg`` as a v1 frame."""
    parts: list[Buffer] = [_dump(getattr(msg, name)) for name in _JSON_PARTS]
    parts.extend(msg.buffers)
    return pack_v1(msg.channel, parts)


def decode_v1(frame: Buffer) -> Message:
    """The message in a v1 frame."""
    channel, parts = unpack_v1(frame)
    if len(parts) < len(_JSON_PARTS):
        raise ValueError(f"v1 frame has {len(parts)} parts, a message needs at least 4")
    header, parent, metadata, content = (
        _load(p, name) for p, name in zip(parts[: len(_JSON_PARTS)], _JSON_PARTS, strict=True)
    )
    buffers = parts[len(_JSON_PARTS) :]
    return _message(
        channel, header=header, parent=parent, metadata=metadata, content=content, buffers=buffers
    )


# --- legacy ----------------------------------------------------------------------------------


def pack_legacy_binary(parts: Sequence[Buffer]) -> bytes:
    """One legacy binary frame: the JSON message part, then the buffers."""
    count = len(parts)
    offsets = [_LEGACY_WORD * (count + 1)]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + memoryview(part).nbytes)
    if offsets[-1] + (memoryview(parts[-1]).nbytes if parts else 0) > 0xFFFFFFFF:
        raise ValueError("a legacy binary frame cannot exceed 4 GiB: its offsets are 32-bit")
    table = struct.pack(f"!{count + 1}I", count, *offsets)
    return b"".join([table, *(bytes(p) for p in parts)])


def unpack_legacy_binary(frame: Buffer) -> list[bytes]:
    """The parts of a legacy binary frame (JSON message first)."""
    data = memoryview(frame).cast("B")
    if len(data) < _LEGACY_WORD:
        raise ValueError(f"legacy binary frame too short ({len(data)} bytes)")
    (count,) = struct.unpack("!I", data[:_LEGACY_WORD])
    table_end = _LEGACY_WORD * (count + 1)
    if count < 1 or table_end > len(data):
        raise ValueError(f"legacy binary frame declares {count} parts in {len(data)} bytes")
    offsets = list(struct.unpack(f"!{count}I", data[_LEGACY_WORD:table_end]))
    offsets.append(len(data))
    _check_offsets(offsets, table_end, len(data), "legacy binary")
    return [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(count)]


def encode_legacy(msg: Message) -> str | bytes:
    """``msg`` in the legacy form: a JSON text frame, or a binary frame if it has buffers."""
    body = {name: getattr(msg, name) for name in _JSON_PARTS}
    body["channel"] = msg.channel
    if not msg.buffers:
        body["buffers"] = []
        return _dump(body).decode("utf-8")
    return pack_legacy_binary([_dump(body), *msg.buffers])


def decode_legacy(frame: str | Buffer) -> Message:
    """The message in a legacy text or binary frame."""
    if isinstance(frame, str):
        body, buffers = _load(frame.encode("utf-8"), "message"), []
    else:
        parts = unpack_legacy_binary(frame)
        body, buffers = _load(parts[0], "message"), parts[1:]
    channel = body.get("channel")
    if not isinstance(channel, str):
        raise ValueError("legacy message has no channel")  # noqa: TRY004 - bad data
    missing = [name for name in _JSON_PARTS if not isinstance(body.get(name, {}), dict)]
    if missing:
        raise ValueError(f"legacy message parts are not objects: {', '.join(missing)}")
    return _message(
        channel,
        header=body.get("header", {}),
        parent=body.get("parent_header", {}),
        metadata=body.get("metadata", {}),
        content=body.get("content", {}),
        buffers=buffers,
    )


# --- shared ----------------------------------------------------------------------------------


def _check_offsets(offsets: list[int], table_end: int, size: int, form: str) -> None:
    if offsets[0] != table_end:
        raise ValueError(f"{form} frame's first offset is {offsets[0]}, expected {table_end}")
    if any(b < a for a, b in itertools.pairwise(offsets)):
        raise ValueError(f"{form} frame's offsets decrease")
    if offsets[-1] != size:
        raise ValueError(f"{form} frame's last offset is {offsets[-1]}, its length {size}")


def _dump(obj: Any) -> bytes:
    # allow_nan=False: NaN is not JSON, and kernels in other languages would refuse it.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _load(part: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(part)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"message {name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"message {name} is not a JSON object")  # noqa: TRY004 - bad data
    return cast("dict[str, Any]", value)


def _message(
    channel: str,
    *,
    header: dict[str, Any],
    parent: dict[str, Any],
    metadata: dict[str, Any],
    content: dict[str, Any],
    buffers: list[bytes],
) -> Message:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not isinstance(header.get("msg_id"), str) or not isinstance(header.get("msg_type"), str):
        raise ValueError("message header lacks msg_id or msg_type")  # noqa: TRY004
    return Message(
        header=cast("MessageHeader", header),
        parent_header=parent,
        metadata=metadata,
        content=content,
        buffers=buffers,
        channel=cast("Channel", channel),
    )
