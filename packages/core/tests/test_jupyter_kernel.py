"""jupyssh.core.jupyter.kernel and .comm: routing, waits and comms over a fake WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from jupyssh.core.errors import (
    ConfigError,
    JupyterAuthError,
    JupyterNotFoundError,
    KernelConnectionError,
    OperationTimeout,
)
from jupyssh.core.jupyter import kernel as kernel_module
from jupyssh.core.jupyter import websocket as websocket_module
from jupyssh.core.jupyter.auth import RedactingLogger
from jupyssh.core.jupyter.comm import Comm
from jupyssh.core.jupyter.framing import (
    V1_SUBPROTOCOL,
    decode_legacy,
    decode_v1,
    encode_legacy,
    encode_v1,
)
from jupyssh.core.jupyter.kernel import ExecuteResult, KernelConnection
from jupyssh.core.jupyter.messages import Channel, Message, new_message

TOKEN = "feedfacefeedfacefeedfacefeedfacefeedfacefeedface"
React = Callable[["FakeSocket", Message], Awaitable[None]]


class FakeSocket:
    """The server end of a kernel WebSocket, with a scriptable kernel behind it."""

    def __init__(self, subprotocol: str | None, react: React | None = None) -> None:
        self.subprotocol = subprotocol
        self.react = react
        self.sent: list[Message] = []
        self.frames: list[str | bytes] = []
        self.closed = False
        self._incoming: asyncio.Queue[str | bytes | BaseException] = asyncio.Queue()

    async def send(self, message: str | bytes) -> None:
        self.frames.append(message)
        if self.subprotocol == V1_SUBPROTOCOL:
            assert isinstance(message, bytes)
            msg = decode_v1(message)
        else:
            msg = decode_legacy(message)
        self.sent.append(msg)
        if self.react is not None:
            await self.react(self, msg)

    async def recv(self) -> str | bytes:
        item = await self._incoming.get()
        if isinstance(item, BaseException):
            self._incoming.put_nowait(item)
            raise item
        return item

    async def close(self) -> None:
        self.closed = True
        self._incoming.put_nowait(ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True))

    def push(self, msg: Message) -> None:
        self._incoming.put_nowait(
            encode_v1(msg) if self.subprotocol == V1_SUBPROTOCOL else encode_legacy(msg)
        )

    def push_raw(self, frame: str | bytes) -> None:
        self._incoming.put_nowait(frame)

    def drop(self, code: int = 1011, reason: str = "kernel died") -> None:
        self._incoming.put_nowait(ConnectionClosedError(Close(code, reason), None, None))


def answer(
    request: Message,
    msg_type: str,
    content: dict[str, Any] | None = None,
    *,
    channel: Channel = "iopub",
    buffers: list[bytes] | None = None,
) -> Message:
    """A kernel's message in answer to ``request``."""
    return new_message(
        msg_type, content, session="kernel", channel=channel, parent=request, buffers=buffers or []
    )


def status(request: Message, state: str) -> Message:
    return answer(request, "status", {"execution_state": state})


async def ipykernel(sock: FakeSocket, msg: Message) -> None:
    """Enough of ipykernel: kernel_info and execute (``1+1``-style and failing code)."""
    if msg.msg_type == "kernel_info_request":
        sock.push(status(msg, "busy"))
        sock.push(
            answer(
                msg,
                "kernel_info_reply",
                {"status": "ok", "implementation": "fake"},
                channel="shell",
            )
        )
        sock.push(status(msg, "idle"))
    elif msg.msg_type == "execute_request":
        code = msg.content["code"]
        sock.push(status(msg, "busy"))
        sock.push(answer(msg, "execute_input", {"code": code, "execution_count": 1}))
        if code == "fail":
            error = {"status": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["tb"]}
            sock.push(answer(msg, "error", {k: v for k, v in error.items() if k != "status"}))
            sock.push(
                answer(msg, "execute_reply", {**error, "execution_count": 1}, channel="shell")
            )
        else:
            sock.push(answer(msg, "stream", {"name": "stdout", "text": "hi\n"}))
            sock.push(answer(msg, "stream", {"name": "stderr", "text": "warn\n"}))
            sock.push(
                answer(msg, "execute_result", {"data": {"text/plain": "2"}, "execution_count": 1})
            )
            sock.push(
                answer(
                    msg, "execute_reply", {"status": "ok", "execution_count": 1}, channel="shell"
                )
            )
        sock.push(status(msg, "idle"))


def connection_for(sock: FakeSocket, **kwargs: Any) -> KernelConnection:
    async def factory(url: str, subprotocols: Any) -> FakeSocket:
        factory.calls.append((url, list(subprotocols)))  # type: ignore[attr-defined]
        return sock

    factory.calls = []  # type: ignore[attr-defined]
    connection = KernelConnection(
        "http://127.0.0.1:8888/", "k-1", token=TOKEN, websocket_factory=factory, **kwargs
    )
    connection.factory_calls = factory.calls  # type: ignore[attr-defined]
    return connection


# --- opening ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("wanted", "selected", "protocol", "offered"),
    [
        ("auto", V1_SUBPROTOCOL, "v1", [V1_SUBPROTOCOL]),
        ("auto", None, "legacy", [V1_SUBPROTOCOL]),
        ("v1", V1_SUBPROTOCOL, "v1", [V1_SUBPROTOCOL]),
        ("legacy", None, "legacy", []),
    ],
)
async def test_open_selects_the_wire_form(
    wanted: Any, selected: str | None, protocol: str, offered: list[str]
) -> None:
    sock = FakeSocket(selected, ipykernel)
    async with connection_for(sock, protocol=wanted, session_id="sess") as kc:
        assert kc.protocol == protocol
        assert repr(kc).endswith(", open)")
        assert kc.factory_calls == [  # type: ignore[attr-defined]
            ("ws://127.0.0.1:8888/api/kernels/k-1/channels?session_id=sess", offered)
        ]
        info = await kc.wait_ready(timeout=5)
        assert info["implementation"] == "fake"
        assert kc.kernel_info == info
    assert sock.closed
    assert not kc.is_open
    frame_type = bytes if protocol == "v1" else str
    assert all(type(f) is frame_type for f in sock.frames)
    assert sock.sent[0].header["session"] == "sess"


@pytest.mark.asyncio
async def test_v1_required_but_not_selected() -> None:
    sock = FakeSocket(None)
    with pytest.raises(KernelConnectionError, match="did not select"):
        await connection_for(sock, protocol="v1").open()
    assert sock.closed


def test_unknown_protocol() -> None:
    with pytest.raises(ConfigError):
        KernelConnection("http://h/", "k", protocol="v2")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_open_is_idempotent_and_repr_has_no_token() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)
    kc = connection_for(sock)
    assert "closed" in repr(kc)
    await kc.open()
    await kc.open()
    assert len(kc.factory_calls) == 1  # type: ignore[attr-defined]
    assert TOKEN not in repr(kc)
    assert "open" in repr(kc)
    await kc.close()
    await kc.close()


# --- execute ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("subprotocol", [V1_SUBPROTOCOL, None])
async def test_execute_collects_outputs_and_calls_back(subprotocol: str | None) -> None:
    sock = FakeSocket(subprotocol, ipykernel)
    seen: list[str] = []

    async def on_output(msg: Message) -> None:
        seen.append(msg.msg_type)

    async with connection_for(sock) as kc:
        result = await kc.execute("1+1", on_output=on_output, timeout=5)
    assert isinstance(result, ExecuteResult)
    assert result.ok
    assert result.status == "ok"
    assert result.execution_count == 1
    assert result.result == {"text/plain": "2"}
    assert result.stdout == "hi\n"
    assert result.stderr == "warn\n"
    assert result.error is None
    assert seen == ["stream", "stream", "execute_result"]
    assert [m.msg_type for m in result.outputs] == seen
    request = sock.sent[-1]
    assert request.msg_type == "execute_request"
    assert request.content["code"] == "1+1"
    assert request.content["allow_stdin"] is False


@pytest.mark.asyncio
async def test_execute_error_is_a_result_not_an_exception() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)
    async with connection_for(sock) as kc:
        result = await kc.execute("fail", on_output=lambda m: None)
    assert not result.ok
    assert result.error == {"ename": "ValueError", "evalue": "bad", "traceback": ["tb"]}
    assert result.result is None
    assert [m.msg_type for m in result.outputs] == ["error"]


@pytest.mark.asyncio
async def test_execute_waits_for_idle_after_the_reply() -> None:
    # The shell reply may overtake the last outputs: execute waits for idle too.
    async def react(sock: FakeSocket, msg: Message) -> None:
        if msg.msg_type == "execute_request":
            sock.push(
                answer(
                    msg, "execute_reply", {"status": "ok", "execution_count": 3}, channel="shell"
                )
            )
            await asyncio.sleep(0.05)
            sock.push(answer(msg, "stream", {"name": "stdout", "text": "late"}))
            sock.push(status(msg, "idle"))

    async with connection_for(FakeSocket(V1_SUBPROTOCOL, react)) as kc:
        result = await kc.execute("x")
    assert result.stdout == "late"


@pytest.mark.asyncio
async def test_execute_idle_before_reply() -> None:
    async def react(sock: FakeSocket, msg: Message) -> None:
        if msg.msg_type == "execute_request":
            sock.push(answer(msg, "stream", {"name": "stdout", "text": "a"}))
            sock.push(status(msg, "idle"))
            await asyncio.sleep(0.05)
            sock.push(answer(msg, "execute_reply", {"status": "ok"}, channel="shell"))

    async with connection_for(FakeSocket(None, react)) as kc:
        result = await kc.execute("x")
    assert (result.ok, result.stdout, result.execution_count) == (True, "a", None)


@pytest.mark.asyncio
async def test_output_callback_errors_are_raised_after_the_run() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)

    def on_output(msg: Message) -> None:
        raise RuntimeError("callback broke")

    async with connection_for(sock) as kc:
        with pytest.raises(RuntimeError, match="callback broke"):
            await kc.execute("1+1", on_output=on_output)
        # the reader survived
        assert (await kc.execute("1+1")).ok


@pytest.mark.asyncio
async def test_execute_timeout() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)  # a kernel that never answers
    async with connection_for(sock) as kc:
        with pytest.raises(OperationTimeout, match="no execute reply") as info:
            await kc.execute("while True: pass", timeout=0.05)
        assert info.value.hint is not None
        assert "interrupt" in info.value.hint
        assert kc._replies == {}
        assert kc._executions == {}


@pytest.mark.asyncio
async def test_other_clients_messages_are_ignored() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)
    seen: list[Message] = []
    async with connection_for(sock) as kc:
        kc.add_handler(seen.append)
        foreign = new_message("execute_request", {}, session="other")
        sock.push(answer(foreign, "stream", {"name": "stdout", "text": "not ours"}))
        sock.push(answer(foreign, "execute_reply", {"status": "ok"}, channel="shell"))
        result = await kc.execute("1+1")
        kc.remove_handler(seen.append)
        kc.remove_handler(seen.append)  # twice is fine
    assert "not ours" not in result.stdout
    assert any(m.content.get("text") == "not ours" for m in seen)


@pytest.mark.asyncio
async def test_execution_state_tracks_status() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)
    async with connection_for(sock) as kc:
        assert kc.execution_state is None
        await kc.execute("1+1")
        await asyncio.sleep(0)
        assert kc.execution_state == "idle"


# --- readiness -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wait_ready_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_module, "_KERNEL_INFO_RETRY", 0.05)
    asked = 0

    async def react(sock: FakeSocket, msg: Message) -> None:
        nonlocal asked
        asked += 1
        if asked >= 3:  # a kernel still starting misses the first requests
            await ipykernel(sock, msg)

    async with connection_for(FakeSocket(V1_SUBPROTOCOL, react)) as kc:
        info = await kc.wait_ready(timeout=5)
    assert info["status"] == "ok"
    assert asked == 3


@pytest.mark.asyncio
async def test_wait_ready_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_module, "_KERNEL_INFO_RETRY", 0.02)
    async with connection_for(FakeSocket(V1_SUBPROTOCOL)) as kc:
        with pytest.raises(OperationTimeout, match=r"did not become ready within 0\.1 s"):
            await kc.wait_ready(timeout=0.1)


# --- connection loss and closing -------------------------------------------------------------


@pytest.mark.asyncio
async def test_lost_connection_fails_every_wait(caplog: pytest.LogCaptureFixture) -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)
    async with connection_for(sock) as kc:
        comm = await kc.open_comm("t")
        pending = asyncio.create_task(kc.execute("x", timeout=5))
        await asyncio.sleep(0.01)
        sock.drop(1011, "kernel died")
        with pytest.raises(KernelConnectionError, match=r"lost \(close code 1011: kernel died\)"):
            await pending
        assert not kc.is_open
        with pytest.raises(KernelConnectionError, match="lost"):
            await kc.request("kernel_info_request")
        with pytest.raises(KernelConnectionError, match="closed"):
            await comm.recv(timeout=1)
        assert comm.closed
    assert "kernel connection lost" in caplog.text


@pytest.mark.asyncio
async def test_message_too_big_hint() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)
    async with connection_for(sock) as kc:
        sock.drop(1009, "")
        with pytest.raises(KernelConnectionError) as info:
            await kc.request("kernel_info_request", timeout=1)
    assert info.value.hint is not None
    assert "websocket_max_message_size" in info.value.hint


@pytest.mark.asyncio
async def test_close_fails_pending_requests() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)
    kc = await connection_for(sock).open()
    pending = asyncio.create_task(kc.request("kernel_info_request", timeout=5))
    await asyncio.sleep(0.01)
    await kc.close()
    with pytest.raises(KernelConnectionError, match="closed"):
        await pending
    with pytest.raises(KernelConnectionError, match="not open"):
        await kc.send(kc.new_message("kernel_info_request"))


@pytest.mark.asyncio
async def test_malformed_frames_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)
    async with connection_for(sock) as kc:
        sock.push_raw(b"\x00garbage")
        sock.push_raw("a text frame")
        assert (await kc.execute("1+1")).ok
    assert caplog.text.count("dropped a malformed message") == 2


@pytest.mark.asyncio
async def test_failing_handler_does_not_stop_the_reader(caplog: pytest.LogCaptureFixture) -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, ipykernel)

    def bad(msg: Message) -> None:
        raise RuntimeError("handler bug")

    async with connection_for(sock) as kc:
        kc.add_handler(bad)
        assert (await kc.execute("1+1")).ok
    assert "a message handler failed" in caplog.text


@pytest.mark.asyncio
async def test_interrupt_uses_rest() -> None:
    calls: list[str] = []

    async def interrupt(kernel_id: str) -> None:
        calls.append(kernel_id)

    async with connection_for(FakeSocket(V1_SUBPROTOCOL), interrupt=interrupt) as kc:
        await kc.interrupt()
    assert calls == ["k-1"]
    async with connection_for(FakeSocket(V1_SUBPROTOCOL)) as kc:
        with pytest.raises(ConfigError, match="interrupt"):
            await kc.interrupt()


# --- comms -----------------------------------------------------------------------------------


async def echo_kernel(sock: FakeSocket, msg: Message) -> None:
    """A kernel with an 'echo' comm target that reverses every buffer it gets."""
    comm_id = msg.content.get("comm_id")
    if msg.msg_type == "comm_open":
        if msg.content["target_name"] != "echo":
            sock.push(answer(msg, "comm_close", {"comm_id": comm_id, "data": {}}))
            return
        sock.push(
            answer(
                msg,
                "comm_msg",
                {"comm_id": comm_id, "data": {"opened": msg.content["data"]}},
                buffers=msg.buffers,
            )
        )
    elif msg.msg_type == "comm_msg":
        reversed_buffers = [b[::-1] for b in msg.buffers]
        data = {"echo": msg.content["data"]}
        sock.push(
            answer(msg, "comm_msg", {"comm_id": comm_id, "data": data}, buffers=reversed_buffers)
        )
    elif msg.msg_type == "comm_close":
        pass


@pytest.mark.asyncio
@pytest.mark.parametrize("subprotocol", [V1_SUBPROTOCOL, None])
async def test_comm_round_trip_with_buffers(subprotocol: str | None) -> None:
    sock = FakeSocket(subprotocol, echo_kernel)
    payload = bytes(range(256))
    async with connection_for(sock) as kc:
        comm = await kc.open_comm("echo", {"hello": 1}, buffers=[payload], metadata={"m": 1})
        assert kc.comms == {comm.comm_id: comm}
        opened = await comm.recv(timeout=1)
        assert opened.content["data"] == {"opened": {"hello": 1}}
        assert opened.buffers == [payload]
        await comm.send({"n": 2}, buffers=[b"abc", memoryview(b"\x00\x01")])
        echoed = await comm.recv(timeout=1)
        assert echoed.content["data"] == {"echo": {"n": 2}}
        assert echoed.buffers == [b"cba", b"\x01\x00"]
        await comm.close({"bye": True})
        await comm.close()
        assert comm.closed
        assert kc.comms == {}
        with pytest.raises(KernelConnectionError, match="closed"):
            await comm.send({})
        with pytest.raises(KernelConnectionError, match="closed"):
            await comm.recv()
    open_msg, msg, close_msg = sock.sent
    assert (open_msg.msg_type, open_msg.channel, open_msg.content["target_name"]) == (
        "comm_open",
        "shell",
        "echo",
    )
    assert open_msg.metadata == {"m": 1}
    assert open_msg.buffers == [payload]
    assert (msg.msg_type, msg.content["comm_id"], msg.buffers) == (
        "comm_msg",
        comm.comm_id,
        [b"abc", b"\x00\x01"],
    )
    assert (close_msg.msg_type, close_msg.content["data"]) == ("comm_close", {"bye": True})
    if subprotocol is None:  # legacy: buffers force the binary framing, the rest is text
        assert [type(f) for f in sock.frames] == [bytes, bytes, str]


@pytest.mark.asyncio
async def test_comm_on_msg_handler_and_timeouts() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, echo_kernel)
    got: list[Message] = []
    async with connection_for(sock) as kc:
        comm = await kc.open_comm("echo", comm_id="fixed-id")
        assert comm.comm_id == "fixed-id"
        assert "fixed-id" in repr(comm)
        await comm.recv(timeout=1)
        done = asyncio.Event()

        async def handler(msg: Message) -> None:
            got.append(msg)
            done.set()

        comm.on_msg(handler)
        await comm.send({"x": 1}, buffers=[b"12"])
        await asyncio.wait_for(done.wait(), 1)
        comm.on_msg(None)
        with pytest.raises(OperationTimeout):
            await comm.recv(timeout=0.01)
    assert got[0].buffers == [b"21"]


@pytest.mark.asyncio
async def test_comm_context_manager_closes() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, echo_kernel)
    async with connection_for(sock) as kc:
        async with await kc.open_comm("echo") as comm:
            await comm.recv(timeout=1)
        assert comm.closed
        assert [m.msg_type for m in sock.sent] == ["comm_open", "comm_close"]
        async with await kc.open_comm("echo") as lost:
            sock.drop()
            await until(lambda: lost.closed)  # no comm_close can be sent: nothing raised
    assert [m.msg_type for m in sock.sent] == ["comm_open", "comm_close", "comm_open"]


@pytest.mark.asyncio
async def test_kernel_closes_an_unknown_target() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL, echo_kernel)
    closed: list[Message] = []
    async with connection_for(sock) as kc:
        comm = await kc.open_comm("no-such-target")
        comm.on_close(closed.append)
        with pytest.raises(KernelConnectionError, match="closed"):
            await comm.recv(timeout=1)
    assert comm.closed
    assert comm.close_message is not None
    assert closed == [comm.close_message]


@pytest.mark.asyncio
async def test_kernel_opened_comms() -> None:
    sock = FakeSocket(V1_SUBPROTOCOL)
    opened: list[tuple[Comm, Message]] = []
    async with connection_for(sock) as kc:
        kc.register_comm_target("ours", lambda comm, msg: opened.append((comm, msg)))
        kernel_side = new_message("execute_request", {}, session="kernel")
        sock.push(
            answer(
                kernel_side,
                "comm_open",
                {"comm_id": "c1", "target_name": "ours", "data": {"a": 1}},
                buffers=[b"b"],
            )
        )
        sock.push(
            answer(kernel_side, "comm_open", {"comm_id": "c2", "target_name": "theirs", "data": {}})
        )
        sock.push(
            answer(kernel_side, "comm_msg", {"comm_id": "c1", "data": {"n": 1}}, buffers=[b"x"])
        )
        sock.push(answer(kernel_side, "comm_msg", {"comm_id": "unknown", "data": {}}))
        await until(lambda: "c1" in kc.comms)
        comm_msg = await kc.comms["c1"].recv(timeout=1)
        assert comm_msg.buffers == [b"x"]
        kc.unregister_comm_target("ours")
        sock.push(answer(kernel_side, "comm_close", {"comm_id": "c1", "data": {}}))
        await until(lambda: "c1" not in kc.comms)
    ((comm, msg),) = opened
    assert (comm.comm_id, comm.target_name, msg.buffers) == ("c1", "ours", [b"b"])
    assert comm.closed
    # the unregistered target got a comm_close back
    (refusal,) = sock.sent
    assert (refusal.msg_type, refusal.content["comm_id"]) == ("comm_close", "c2")


async def until(condition: Callable[[], bool]) -> None:
    """Wait (boundedly) for the reader task to have routed what was pushed."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


# --- the real websockets client: handshake failures and what it is given --------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, JupyterAuthError),
        (403, JupyterAuthError),
        (404, JupyterNotFoundError),
        (500, KernelConnectionError),
    ],
)
async def test_handshake_statuses(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: type[Exception]
) -> None:
    async def refuse(url: str, **kwargs: Any) -> Any:
        raise InvalidStatus(Response(status, "No", Headers()))

    monkeypatch.setattr(websocket_module, "ws_connect", refuse)
    with pytest.raises(kind, match=f"HTTP {status}"):
        await KernelConnection("http://h/", "k", token=TOKEN).open()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), OperationTimeout),
        (asyncio.TimeoutError(), OperationTimeout),
        (ConnectionRefusedError(111, "refused"), KernelConnectionError),
    ],
)
async def test_handshake_failures(
    monkeypatch: pytest.MonkeyPatch, error: Exception, kind: type[Exception]
) -> None:
    async def fail(url: str, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(websocket_module, "ws_connect", fail)
    with pytest.raises(kind) as info:
        await KernelConnection("http://h/", "k", token=TOKEN).open()
    assert str(info.value.where).startswith("ws://h/api/kernels/k/channels?session_id=")  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_websockets_gets_the_header_and_a_redacting_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    async def capture(url: str, **kwargs: Any) -> FakeSocket:
        seen.update(kwargs, url=url)
        return FakeSocket(V1_SUBPROTOCOL)

    monkeypatch.setattr(websocket_module, "ws_connect", capture)
    async with KernelConnection(
        "http://h/", "k", token=TOKEN, max_message_size=123, open_timeout=4
    ):
        pass
    assert seen["additional_headers"] == {"Authorization": f"token {TOKEN}"}
    assert seen["subprotocols"] == [V1_SUBPROTOCOL]
    assert seen["max_size"] == 123
    assert seen["open_timeout"] == 4
    assert "ssl" not in seen
    assert TOKEN not in seen["url"]
    assert isinstance(seen["logger"], RedactingLogger)


@pytest.mark.asyncio
async def test_websockets_logging_is_redacted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def capture(url: str, **kwargs: Any) -> FakeSocket:
        kwargs["logger"].debug("> %s: %s", "Authorization", f"token {TOKEN}")
        return FakeSocket(V1_SUBPROTOCOL)

    monkeypatch.setattr(websocket_module, "ws_connect", capture)
    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        async with KernelConnection("http://h/", "k", token=TOKEN):
            pass
    assert "Authorization: token <redacted>" in caplog.text
    assert TOKEN not in caplog.text


# --- quick acks -----------------------------------------------------------------------------


class PongingSocket(FakeSocket):
    def __init__(self, subprotocol: str | None) -> None:
        super().__init__(subprotocol, ipykernel)
        self.pongs = 0

    async def pong(self, data: bytes = b"") -> None:
        self.pongs += 1


def _status(state: str) -> Message:
    return new_message("status", {"execution_state": state}, session="k", channel="iopub")


@pytest.mark.asyncio
async def test_quick_acks_answer_received_messages_with_pongs() -> None:
    sock = PongingSocket(V1_SUBPROTOCOL)
    async with connection_for(sock, quick_acks=True) as kc:
        sock.push(_status("busy"))
        await until(lambda: kc.execution_state == "busy")
        await until(lambda: sock.pongs == 1)
        sock.push(_status("idle"))
        await until(lambda: kc.execution_state == "idle")
        await until(lambda: sock.pongs == 2)


@pytest.mark.asyncio
async def test_no_pongs_by_default() -> None:
    sock = PongingSocket(V1_SUBPROTOCOL)
    async with connection_for(sock) as kc:
        sock.push(_status("busy"))
        await until(lambda: kc.execution_state == "busy")
        await asyncio.sleep(0.01)
    assert sock.pongs == 0


class _HangingClose(FakeSocket):
    """A WebSocket whose closing handshake never completes (the peer never answers)."""

    def __init__(self) -> None:
        super().__init__(V1_SUBPROTOCOL)
        self.transport = self
        self.aborted = False

    async def close(self) -> None:
        await asyncio.Event().wait()

    def abort(self) -> None:
        self.aborted = True


@pytest.mark.asyncio
async def test_a_close_cancelled_mid_handshake_drops_the_connection() -> None:
    """A server stopping cancels what still runs: a kernel connection then closing must
    not leave its socket open past its loop (seen as ResourceWarnings in a later test)."""
    sock = _HangingClose()
    kc = await connection_for(sock).open()
    closing = asyncio.create_task(kc.close())
    await asyncio.sleep(0.05)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert sock.aborted


@pytest.mark.asyncio
async def test_a_reader_cancelled_without_close_drops_the_connection() -> None:
    """A loop stopping cancels every task, the reader of a connection nobody closed
    included (a session still starting when its server stopped): its socket must not
    outlive the loop."""
    sock = _HangingClose()
    kc = await connection_for(sock).open()
    reader = kc._reader
    assert reader is not None
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert sock.aborted


@pytest.mark.asyncio
async def test_a_reader_cancelled_by_close_leaves_the_handshake_alone() -> None:
    sock = _HangingClose()
    sock.close = FakeSocket.close.__get__(sock)  # type: ignore[method-assign]
    kc = await connection_for(sock).open()
    await kc.close()
    assert sock.closed
    assert not sock.aborted
