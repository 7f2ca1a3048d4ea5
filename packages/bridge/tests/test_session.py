"""KernelSession against an in-process Jupyter (conftest.FakeJupyter): the reader the kernel is
told to run and reports, what is shipped, routing of the agent's messages, cleanup."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyssh.bridge import agent
from jupyssh.bridge.errors import AgentError, ReaderUnavailableError
from jupyssh.bridge.loop import LoopThread
from jupyssh.bridge.pool import KernelPool
from jupyssh.bridge.reader import (
    ReaderChoice,
    compiled_module_path,
    kernel_reader_choice,
)
from jupyssh.bridge.session import KernelSession
from jupyssh.core.errors import ConfigError, KernelConnectionError

TIMEOUT = 20.0


@pytest.fixture
def io() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


def start(io: LoopThread, jupyter: Any, reader: ReaderChoice = "auto") -> KernelSession:
    pool = KernelPool(jupyter, None)  # type: ignore[arg-type]
    session = KernelSession(jupyter, pool, "test", reader=reader)  # type: ignore[arg-type]
    io.submit(session.start()).result(TIMEOUT)
    return session


def close(io: LoopThread, session: KernelSession) -> None:
    io.submit(session.close()).result(TIMEOUT)


def test_auto_ships_the_compiled_reader_into_a_kernel_without_it(
    io: LoopThread, jupyter: Any, compiled_so: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "_installed_reader", lambda version: None)
    jupyter.hello.update(installed=None)
    session = start(io, jupyter)
    data, buffers = jupyter.comms[0].reader_message()
    assert (data["want"], data["compiled"], len(buffers)) == ("auto", Path(compiled_so).name, 2)
    assert (session.reader_impl, session.reader_source) == ("compiled", "shipped")
    close(io, session)


def test_pure_sends_no_compiled_module_and_the_kernel_reports_pure(
    io: LoopThread, jupyter: Any, compiled_so: str
) -> None:
    """Issue 15 item 5: with the pure reader chosen the .so never leaves the bridge, and
    the kernel (which has jupyssh installed here, compiled reader included) runs pure."""
    jupyter.hello.update(installed=None)
    session = start(io, jupyter, "pure")
    data, buffers = jupyter.comms[0].reader_message()
    assert (data["want"], data["compiled"], len(buffers)) == ("pure", None, 1)
    assert (session.reader_impl, session.reader_source) == ("pure", "pure")
    close(io, session)


def test_no_extensions_in_the_bridge_means_pure_kernels(
    io: LoopThread, jupyter: Any, compiled_so: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYSSH_NO_EXTENSIONS", "1")
    assert kernel_reader_choice() == "pure"
    assert compiled_module_path() is None
    with pytest.raises(ConfigError, match="JUPYSSH_NO_EXTENSIONS"):
        kernel_reader_choice("compiled")
    jupyter.hello.update(installed=None)
    session = start(io, jupyter, kernel_reader_choice())
    assert len(jupyter.comms[0].reader_message()[1]) == 1
    assert session.reader_impl == "pure"
    close(io, session)


def test_an_unknown_reader_choice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown reader"):
        kernel_reader_choice("fast")  # type: ignore[arg-type]


def test_compiled_required_fails_on_a_kernel_of_another_abi(
    io: LoopThread, jupyter: Any, compiled_so: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "_installed_reader", lambda version: None)
    jupyter.hello.update(installed=None, soabi="cpython-39-x86_64-linux-gnu")
    session = start(io, jupyter, "compiled")
    assert session.ready is not None
    with pytest.raises(ReaderUnavailableError, match="does not match"):
        io.submit(_wait(session)).result(TIMEOUT)
    close(io, session)
    assert jupyter.deleted == jupyter.started  # the kernel is not left behind


async def _wait(session: KernelSession) -> None:
    assert session.ready is not None
    await session.ready


class Sink:
    """A channel as the session sees it: every call lands in a queue."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any, Any]] = queue.Queue()

    def on_output(self, fd: int, data: bytes) -> None:
        self.events.put(("out", fd, data))

    def on_stdin_ack(self, size: int) -> None:
        self.events.put(("ack", size, None))

    def on_exit(self, status: int, signal: str | None) -> None:
        self.events.put(("exit", status, signal))

    def on_error(self, message: str, status: int) -> None:
        self.events.put(("error", status, message))

    def until_end(self) -> list[tuple[str, Any, Any]]:
        seen = []
        while True:
            event = self.events.get(timeout=TIMEOUT)
            seen.append(event)
            if event[0] in {"exit", "error"}:
                return seen


def run(io: LoopThread, session: KernelSession, number: int, **spawn: Any) -> Sink:
    sink = Sink()

    def _go() -> None:
        session.attach(number, sink)
        session.post({"op": "spawn", "ch": number, "env": {}, "pty": None, **spawn})
        session.post({"op": "eof", "ch": number})

    io.call(_go)
    return sink


def test_the_session_routes_output_and_the_exit_signal(io: LoopThread, jupyter: Any) -> None:
    session = start(io, jupyter, "pure")
    events = run(io, session, 1, command="echo out; kill -TERM $$").until_end()
    assert ("out", 1, b"out\n") in events
    assert events[-1] == ("exit", 128 + 15, "TERM")
    close(io, session)


def test_a_command_that_cannot_start_ends_with_status_1(io: LoopThread, jupyter: Any) -> None:
    session = start(io, jupyter, "pure")
    events = run(io, session, 2, command="echo a\0b").until_end()
    assert events == [
        ("error", agent.SPAWN_FAILED, "cannot start: the command contains a NUL byte")
    ]
    close(io, session)


def test_closing_the_session_kills_its_processes_and_deletes_the_kernel(
    io: LoopThread, jupyter: Any, until: Callable[..., None]
) -> None:
    session = start(io, jupyter, "pure")
    run(io, session, 3, command="sleep 60")
    processes = jupyter.comms[0].agent.processes
    until(lambda: 3 in processes, what="the process start")
    close(io, session)
    assert jupyter.deleted == jupyter.started == [session.kernel_id]
    assert jupyter.comms[0].closed
    until(lambda: not processes, timeout=5, what="the process's end")


class _DropsFirstKernel:
    """Wraps a FakeJupyter whose first kernel's WebSocket is lost while it starts."""

    def __init__(self, jupyter: Any) -> None:
        self.jupyter = jupyter
        self.connections: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jupyter, name)

    def connect_kernel(self, kernel_id: str, **options: Any) -> Any:
        connection = self.jupyter.connect_kernel(kernel_id, **options)
        self.connections.append(connection)
        if len(self.connections) == 1:

            async def lost(timeout: float = 60.0) -> dict[str, Any]:
                raise KernelConnectionError("kernel connection lost (close code 1011)")

            connection.wait_ready = lost
        return connection


def test_a_kernel_lost_while_starting_is_deleted_and_another_started(
    io: LoopThread, jupyter: Any
) -> None:
    dropping = _DropsFirstKernel(jupyter)
    session = start(io, dropping)
    try:
        first, second = dropping.connections
        assert not first.is_open  # closed, not left to the garbage collector
        assert jupyter.deleted == [first.kernel_id]
        assert session.kernel_id == second.kernel_id != first.kernel_id
        assert session.reader_impl in ("compiled", "pure")
    finally:
        close(io, session)


class _OpensLate:
    """Wraps a FakeJupyter whose kernel WebSockets finish their handshake only once
    ``gate`` is set (on the loop); ``opening`` tells the test one has begun."""

    def __init__(self, jupyter: Any) -> None:
        self.jupyter = jupyter
        self.connections: list[Any] = []
        self.opening = threading.Event()
        self.gate: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jupyter, name)

    def connect_kernel(self, kernel_id: str, **options: Any) -> Any:
        connection = self.jupyter.connect_kernel(kernel_id, **options)
        self.connections.append(connection)
        handshake = connection.open

        async def open_late() -> Any:
            self.gate = asyncio.Event()
            self.opening.set()
            await self.gate.wait()
            return await handshake()

        connection.open = open_late
        return connection


def test_a_session_closed_while_its_kernel_connection_opens_leaves_it_closed(
    io: LoopThread, jupyter: Any
) -> None:
    """The connection ends while its kernel's WebSocket is still opening: the start must
    not go on to open it after the close (nothing would close it then, and its socket
    would outlive the loop)."""
    late = _OpensLate(jupyter)
    session = KernelSession(late, KernelPool(late, None), "test", reader="pure")  # type: ignore[arg-type]
    started = io.submit(session.start())
    assert late.opening.wait(TIMEOUT)
    close(io, session)
    assert late.gate is not None
    io.call(late.gate.set)  # the handshake completes after the close
    with contextlib.suppress(concurrent.futures.CancelledError):
        started.result(TIMEOUT)
    [connection] = late.connections
    assert not connection.is_open
    assert jupyter.deleted == jupyter.started == [connection.kernel_id]
    assert session.ready is not None
    assert isinstance(session.ready.exception(), AgentError)


def test_a_session_closed_before_its_start_ran_starts_no_kernel(
    io: LoopThread, jupyter: Any
) -> None:
    session = KernelSession(jupyter, KernelPool(jupyter, None), "test")
    close(io, session)
    io.submit(session.start()).result(TIMEOUT)
    assert jupyter.started == []
    assert session.ready is not None
    assert isinstance(session.ready.exception(), AgentError)
