"""Jupyter messaging protocol messages: the ``Message`` type and the builders we send.

A message is a header, its parent's header, metadata, content, binary buffers and the
channel it travels on (Jupyter messaging spec 5.x). ``KernelConnection`` builds its
requests with these functions and receives ``Message`` objects from ``framing``; both
are pure, so unit tests cover them without a kernel.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict, cast

__all__ = [
    "CHANNELS",
    "PROTOCOL_VERSION",
    "Buffer",
    "Channel",
    "Message",
    "MessageHeader",
    "comm_close_content",
    "comm_msg_content",
    "comm_open_content",
    "execute_request_content",
    "new_id",
    "new_message",
]

#: The messaging protocol version we speak: comms and ``execute_request`` as in 5.3.
PROTOCOL_VERSION = "5.3"

Channel = Literal["shell", "iopub", "stdin", "control"]
CHANNELS: frozenset[str] = frozenset({"shell", "iopub", "stdin", "control"})

#: Anything we accept as a binary buffer; it is sent as bytes.
Buffer = bytes | bytearray | memoryview


class MessageHeader(TypedDict):
    """A message's ``header``; kernels may add keys (``subshell_id``)."""

    msg_id: str
    msg_type: str
    username: str
    session: str
    date: str
    version: str


@dataclass
class Message:
    """One Jupyter message, as sent or received.

    ``parent_header`` is ``{}`` for messages that answer nothing. ``content`` is the
    message type's JSON content, left as the kernel sent it.
    """

    header: MessageHeader
    parent_header: dict[str, Any]
    metadata: dict[str, Any]
    content: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)
    channel: Channel = "shell"

    @property
    def msg_id(self) -> str:
        return self.header["msg_id"]

    @property
    def msg_type(self) -> str:
        return self.header["msg_type"]

    @property
    def parent_id(self) -> str | None:
        """The ``msg_id`` this message answers, if any."""
        parent = self.parent_header.get("msg_id")
        return parent if isinstance(parent, str) else None

    def __repr__(self) -> str:
        # Content can be large or private (code, file data): never in a repr.
        return (
            f"Message({self.channel}/{self.msg_type}, msg_id={self.msg_id!r}, "
            f"parent_id={self.parent_id!r}, buffers={len(self.buffers)})"
        )


def new_id() -> str:
    """A fresh message, session or comm id (uuid4 hex, as jupyter_client makes them)."""
    return uuid.uuid4().hex


def new_message(
    msg_type: str,
    content: Mapping[str, Any] | None = None,
    *,
    session: str,
    channel: Channel = "shell",
    username: str = "jupyssh",
    parent: Message | None = None,
    metadata: Mapping[str, Any] | None = None,
    buffers: Sequence[Buffer] = (),
) -> Message:
    """Build a message to send: a new header, the parent's header if answering one."""
    header = MessageHeader(
        msg_id=new_id(),
        msg_type=msg_type,
        username=username,
        session=session,
        date=datetime.now(timezone.utc).isoformat(),
        version=PROTOCOL_VERSION,
    )
    return Message(
        header=header,
        parent_header=dict(cast("Mapping[str, Any]", parent.header)) if parent else {},
        metadata=dict(metadata or {}),
        content=dict(content or {}),
        buffers=[bytes(b) for b in buffers],
        channel=channel,
    )


def execute_request_content(
    code: str,
    *,
    silent: bool = False,
    store_history: bool = True,
    user_expressions: Mapping[str, str] | None = None,
    allow_stdin: bool = False,
    stop_on_error: bool = True,
) -> dict[str, Any]:
    """``execute_request`` content. ``allow_stdin`` is off: we answer no ``input()``."""
    return {
        "code": code,
        "silent": silent,
        "store_history": store_history,
        "user_expressions": dict(user_expressions or {}),
        "allow_stdin": allow_stdin,
        "stop_on_error": stop_on_error,
    }


def comm_open_content(
    comm_id: str,
    target_name: str,
    data: Mapping[str, Any] | None = None,
    *,
    target_module: str | None = None,
) -> dict[str, Any]:
    """``comm_open`` content: asks the kernel's handler for ``target_name`` to take a comm."""
    content: dict[str, Any] = {
        "comm_id": comm_id,
        "target_name": target_name,
        "data": dict(data or {}),
    }
    if target_module is not None:
        content["target_module"] = target_module
    return content


def comm_msg_content(comm_id: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``comm_msg`` content."""
    return {"comm_id": comm_id, "data": dict(data or {})}


def comm_close_content(comm_id: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``comm_close`` content."""
    return {"comm_id": comm_id, "data": dict(data or {})}
