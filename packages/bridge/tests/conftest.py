"""Shared fixtures: the two reader implementations side by side, and a Jupyter server in
this process for the bridge's session, channel and server tests: kernels are ids, a
kernel connection is a few coroutines, and the agent's comm goes straight to a real
:class:`~jupyssh.bridge.agent.Agent`, which runs real processes here. No container, no
network: a change to the bridge is checked in seconds. (pytest's importlib mode: tests
reach these through fixtures, not imports.)"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from jupyssh.bridge import _reader_py, agent
from jupyssh.core.jupyter import Message


def _compiled() -> Any:
    try:
        return importlib.import_module("jupyssh.bridge._reader")
    except ImportError:
        return None


COMPILED = _compiled()


def require_compiled() -> Any:
    """The compiled reader module. It must be built: a missing build is a failure here,
    not a skip, unless JUPYSSH_NO_EXTENSIONS=1 asked for a pure build (then nothing
    compiled is used or shipped, and the test is skipped)."""
    if os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1":
        pytest.skip("pure build requested with JUPYSSH_NO_EXTENSIONS=1")
    if COMPILED is None:
        pytest.fail("the compiled reader was not built (see the build hook's warning)")
    return COMPILED


@pytest.fixture(params=["pure", "compiled"])
def reader_module(request: pytest.FixtureRequest) -> Any:
    """``_reader_py`` and ``_reader`` (see :func:`require_compiled`)."""
    if request.param == "pure":
        return _reader_py
    return require_compiled()


@pytest.fixture
def compiled_so() -> str:
    """The file of the compiled reader (see :func:`require_compiled`)."""
    return str(require_compiled().__file__)


@pytest.fixture
def until() -> Callable[..., None]:
    """:func:`wait_until`: a bounded polling wait."""
    return wait_until


@contextlib.contextmanager
def client_transport(address: tuple[str, int], timeout: float = 20.0) -> Iterator[Any]:
    """A paramiko client connected to ``address`` with the ``none`` method (the test
    servers run with ``insecure_no_auth`` on loopback)."""
    import paramiko

    transport = paramiko.Transport(address)
    try:
        transport.start_client(timeout=timeout)
        transport.auth_none("tester")
        yield transport
    finally:
        transport.close()
        transport.join(5)


@pytest.fixture
def connect_client() -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """:func:`client_transport`."""
    return client_transport


@pytest.fixture
def jupyter() -> FakeJupyter:
    """A fresh in-process Jupyter (set ``jupyter.hello`` to play another kernel)."""
    return FakeJupyter()


# --- the in-process Jupyter ------------------------------------------------------------------

Sent = tuple[dict[str, Any], list[bytes]]


def _message(data: Mapping[str, Any], buffers: Sequence[bytes]) -> Message:
    header = {
        "msg_id": "m",
        "msg_type": "comm_msg",
        "username": "kernel",
        "session": "s",
        "date": "",
        "version": "5.3",
    }
    return Message(
        header=header,  # type: ignore[arg-type]
        parent_header={},
        metadata={},
        content={"data": dict(data)},
        buffers=[bytes(b) for b in buffers],
        channel="iopub",
    )


class FakeComm:
    """The agent's comm: what the bridge sends is handled by an in-process agent (on the
    loop, as the kernel's shell thread would), what the agent sends comes back on the
    loop. ``sent`` keeps every message the bridge sent, ``hello`` changes the agent's
    hello (to play a kernel of another platform)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, hello: Mapping[str, Any]) -> None:
        self.loop = loop
        self.hello_changes = dict(hello)
        self.sent: list[Sent] = []
        self.closed = False
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._on_msg: Any = None
        self._on_close: Any = None
        self.agent = agent.Agent(self._from_agent)

    def _from_agent(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        # any agent thread; the loop may be gone once the bridge stopped
        if data.get("op") == "hello":
            data = {**data, **self.hello_changes}
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._deliver, _message(data, buffers))

    def _deliver(self, msg: Message) -> None:
        if self._on_msg is not None:
            self._on_msg(msg)
        else:
            self._queue.put_nowait(msg)

    async def recv(self, timeout: float | None = None) -> Message:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def send(
        self, data: Mapping[str, Any] | None = None, *, buffers: Sequence[bytes] = ()
    ) -> None:
        message = dict(data or {})
        self.sent.append((message, [bytes(b) for b in buffers]))
        self.agent.handle(message, [bytes(b) for b in buffers])

    def on_msg(self, handler: Any) -> None:
        self._on_msg = handler

    def on_close(self, handler: Any) -> None:
        self._on_close = handler

    async def close(self) -> None:
        self.closed = True
        self.agent.shutdown()

    def reader_message(self) -> Sent:
        """The ``reader`` message the bridge sent."""
        return next(m for m in self.sent if m[0]["op"] == "reader")


@dataclass
class ExecuteResult:
    ok: bool = True
    error: dict[str, Any] | None = None


class FakeKernelConnection:
    """A kernel's WebSocket: opens at once; running the agent's source does nothing (the
    agent is already imported); opening its comm starts an agent that says hello."""

    where = "fake://kernel"

    def __init__(self, jupyter: FakeJupyter, kernel_id: str) -> None:
        self.jupyter = jupyter
        self.kernel_id = kernel_id
        self.execution_state = "idle"
        self.is_open = False
        self.comm: FakeComm | None = None

    async def open(self) -> FakeKernelConnection:
        self.is_open = True
        return self

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        return {}

    async def execute(self, code: str, **options: Any) -> ExecuteResult:
        return ExecuteResult()

    async def open_comm(self, target: str) -> FakeComm:
        assert target == agent.TARGET
        self.comm = FakeComm(asyncio.get_running_loop(), self.jupyter.hello)
        self.jupyter.comms.append(self.comm)
        self.comm.agent.hello()
        return self.comm

    async def close(self) -> None:
        self.is_open = False


@dataclass
class FakeJupyter:
    """The part of :class:`~jupyssh.core.jupyter.JupyterClient` the bridge uses."""

    base_url: str = "http://127.0.0.1:8888/"
    hello: dict[str, Any] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    comms: list[FakeComm] = field(default_factory=list)
    closed: bool = False
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def start_kernel(self, name: str | None = None, **options: Any) -> dict[str, Any]:
        kernel_id = f"kernel-{next(self._ids)}"
        self.started.append(kernel_id)
        return {"id": kernel_id, "name": name or "python3"}

    async def delete_kernel(self, kernel_id: str) -> None:
        self.deleted.append(kernel_id)

    def connect_kernel(self, kernel_id: str, **options: Any) -> FakeKernelConnection:
        return FakeKernelConnection(self, kernel_id)

    async def aclose(self) -> None:
        self.closed = True


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "it") -> None:
    """Poll ``check()`` every 20 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(0.02)
