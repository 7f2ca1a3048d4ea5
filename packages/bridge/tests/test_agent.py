"""The kernel-side agent, driven directly (no kernel): processes on pipes and PTYs, flow
control, exit statuses, and the reader it loads."""

from __future__ import annotations

import hashlib
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from jupyssh.bridge import agent
from jupyssh.bridge.session import pure_reader_source

Sent = tuple[dict[str, Any], list[bytes]]


class Harness:
    """An agent whose messages land in a queue; acknowledges output like the bridge."""

    def __init__(self, *, auto_ack: bool = True) -> None:
        self.messages: queue.Queue[Sent] = queue.Queue()
        self.auto_ack = auto_ack
        self.agent = agent.Agent(self._send)

    def _send(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.messages.put((data, [bytes(b) for b in buffers]))
        if self.auto_ack and data["op"] == "out":
            ack = {"op": "ack", "ch": data["ch"], "fd": data["fd"], "n": len(buffers[0])}
            threading.Thread(target=self.agent.handle, args=(ack, [])).start()

    def load_pure(self) -> None:
        self.agent.handle({"op": "reader", "compiled": None}, [pure_reader_source()])
        assert self.next("ready")[0]["impl"] in {"pure", "compiled"}

    def next(self, op: str, timeout: float = 30.0) -> Sent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data, buffers = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if data["op"] == op:
                return data, buffers
        raise AssertionError(f"no {op} message within {timeout} s")

    def output_until(self, channel: int, marker: bytes, timeout: float = 30.0) -> bytes:
        """``channel``'s stdout up to and including ``marker`` (later output stays for
        :meth:`collect`, as long as ``marker`` ends a message)."""
        seen = b""
        deadline = time.monotonic() + timeout
        while marker not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} within {timeout} s; got {seen!r}")
            data, buffers = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if data.get("ch") == channel and data["op"] == "out" and data["fd"] == 1:
                seen += buffers[0]
            elif data.get("ch") == channel and data["op"] in {"exit", "error"}:
                raise AssertionError(f"the process ended before {marker!r}: {data}")
        return seen

    def collect(self, channel: int, timeout: float = 30.0) -> tuple[bytes, bytes, int]:
        """stdout, stderr and exit status of ``channel``, until its exit message."""
        out = {1: b"", 2: b""}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data, buffers = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if data.get("ch") != channel:
                continue
            if data["op"] == "out":
                out[data["fd"]] += buffers[0]
            elif data["op"] == "exit":
                return out[1], out[2], data["status"]
            elif data["op"] == "error":
                raise AssertionError(data["message"])
        raise AssertionError("the process did not exit in time")


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    h.load_pure()
    yield h
    h.agent.shutdown()


def spawn(h: Harness, channel: int, command: str | None, **extra: Any) -> None:
    h.agent.handle({"op": "spawn", "ch": channel, "command": command, **extra}, [])


def test_exit_status_maps_signals() -> None:
    assert agent.exit_status(3) == 3
    assert agent.exit_status(-15) == 128 + 15


def test_pipes_keep_stdout_and_stderr_apart(harness: Harness) -> None:
    spawn(harness, 1, "echo hi; echo err >&2; exit 3")
    assert harness.collect(1) == (b"hi\n", b"err\n", 3)


def test_stdin_and_its_eof_reach_the_process(harness: Harness) -> None:
    spawn(harness, 2, "sha256sum")
    data = bytes(range(256)) * 100
    harness.agent.handle({"op": "stdin", "ch": 2}, [data[:1000], data[1000:]])
    harness.agent.handle({"op": "eof", "ch": 2}, [])
    stdout, _, status = harness.collect(2)
    assert status == 0
    assert stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_stdin_is_acknowledged_in_batches_once_written(harness: Harness) -> None:
    """One acknowledgement per STDIN_ACK_EVERY bytes written, not one per keystroke:
    every acknowledgement is a message through the Jupyter server."""
    spawn(harness, 3, "cat >/dev/null")
    harness.agent.handle({"op": "stdin", "ch": 3}, [b"x" * 5000])
    time.sleep(0.5)
    assert "ack" not in [
        harness.messages.get_nowait()[0]["op"] for _ in range(harness.messages.qsize())
    ]
    harness.agent.handle({"op": "stdin", "ch": 3}, [b"y" * agent.STDIN_ACK_EVERY])
    ack, _ = harness.next("ack")
    assert ack == {"op": "ack", "ch": 3, "n": 5000 + agent.STDIN_ACK_EVERY}
    harness.agent.handle({"op": "eof", "ch": 3}, [])
    assert harness.collect(3)[2] == 0


def test_the_exit_report_says_what_the_readers_cost(harness: Harness) -> None:
    spawn(harness, 6, "head -c 300000 /dev/zero; echo err >&2")
    sizes = {1: 0, 2: 0}
    while True:
        data, buffers = harness.next("out") if sum(sizes.values()) < 300004 else (None, [])
        if data is None:
            break
        sizes[data["fd"]] += len(buffers[0])
    report, _ = harness.next("exit")
    assert (report["ch"], report["status"], report["bytes"]) == (6, 0, 300004)
    assert 0.0 < report["reader_cpu"] < 5.0


def test_a_pty_process_gets_term_size_and_resize(harness: Harness) -> None:
    """The resize lands between the two ``stty size``: the second waits for a line of
    input, sent once the first size was seen (no timing guess)."""
    pty = {"term": "xterm-256color", "cols": 91, "rows": 23}
    spawn(harness, 4, "stty -echo; echo $TERM; stty size; read go; stty size", pty=pty)
    first = harness.output_until(4, b"23 91\r\n")
    harness.agent.handle({"op": "resize", "ch": 4, "cols": 120, "rows": 40}, [])
    harness.agent.handle({"op": "stdin", "ch": 4}, [b"go\n"])
    stdout, stderr, status = harness.collect(4)
    assert status == 0
    assert stderr == b""
    assert (first + stdout).split(b"\r\n")[:3] == [b"xterm-256color", b"23 91", b"40 120"]


def test_kill_ends_the_process_group(harness: Harness) -> None:
    spawn(harness, 5, "sleep 100 & echo started; wait")
    harness.output_until(5, b"started\n")
    harness.agent.handle({"op": "kill", "ch": 5}, [])
    _, _, status = harness.collect(5, timeout=10)
    assert status == 128 + 1  # SIGHUP


def test_output_waits_for_credit() -> None:
    """Without acknowledgements a reader stops at its window: nothing is dropped, nothing
    runs ahead."""
    h = Harness(auto_ack=False)
    h.load_pure()
    try:
        spawn(h, 6, "head -c 8000000 /dev/zero")
        time.sleep(1.0)
        received = 0
        while True:
            try:
                data, buffers = h.messages.get(timeout=0.5)
            except queue.Empty:
                break
            if data["op"] == "out":
                received += len(buffers[0])
        assert agent.OUT_WINDOW <= received < agent.OUT_WINDOW + agent.MAX_CHUNK
        h.agent.handle({"op": "ack", "ch": 6, "fd": 1, "n": received}, [])
        data, buffers = h.next("out")
        assert len(buffers[0]) > 0
    finally:
        h.agent.shutdown()


def test_spawn_before_a_reader_is_an_error() -> None:
    h = Harness()
    spawn(h, 7, "true")
    data, _ = h.next("error")
    assert data["ch"] == 7


def test_a_channel_number_is_not_reused_while_running(harness: Harness) -> None:
    spawn(harness, 8, "sleep 1")
    spawn(harness, 8, "true")
    data, _ = harness.next("error")
    assert "in use" in data["message"]
    assert harness.collect(8)[2] == 0


def test_hello_describes_the_kernel_platform() -> None:
    h = Harness()
    h.agent.hello()
    data, _ = h.next("hello")
    assert data["protocol"] == agent.PROTOCOL
    assert {"soabi", "ext_suffix", "machine", "libc", "installed"} <= set(data)


def test_a_shipped_module_with_a_wrong_digest_is_not_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYSSH_NO_EXTENSIONS", "1")  # do not use the installed module
    h = Harness()
    data = {"op": "reader", "compiled": "_reader.so", "sha256": "0" * 64}
    h.agent.handle(data, [pure_reader_source(), b"not a module"])
    ready, _ = h.next("ready")
    assert (ready["impl"], ready["source"]) == ("pure", "pure")


def test_a_shipped_compiled_module_is_loaded_from_a_private_folder(
    compiled_so: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = compiled_so
    monkeypatch.setenv("JUPYSSH_NO_EXTENSIONS", "1")
    blob = Path(path).read_bytes()
    h = Harness()
    data = {
        "op": "reader",
        "compiled": Path(path).name,
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    h.agent.handle(data, [pure_reader_source(), blob])
    ready, _ = h.next("ready")
    assert (ready["impl"], ready["source"]) == ("compiled", "shipped")
    private = h.agent._private_dir
    assert private is not None
    assert Path(private).stat().st_mode & 0o777 == 0o700
    h.agent.shutdown()
    assert not Path(private).exists()


def test_rate_limiter_holds_the_message_rate() -> None:
    limiter = agent.RateLimiter(200, burst=10)
    started = time.monotonic()
    for _ in range(60):
        limiter.take()
    assert time.monotonic() - started >= (60 - 10) / 200 * 0.9


def test_a_command_gets_large_output_pipes(harness: Harness) -> None:
    """Fewer, larger reads per MB (the readers' CPU per MB halves, measured)."""
    import fcntl

    spawn(harness, 8, "sleep 2")
    process = harness.agent.processes[8]
    assert process.proc.stdout is not None
    assert process.proc.stderr is not None
    for pipe in (process.proc.stdout, process.proc.stderr):
        assert fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ) == agent.PIPE_SIZE
    harness.agent.handle({"op": "kill", "ch": 8}, [])
    harness.collect(8, timeout=10)


@pytest.mark.parametrize(
    ("command", "env", "reason"),
    [
        ("echo a\0b", {}, "NUL byte"),
        ("true", {"LC_A=B": "x"}, "invalid environment variable name"),
        ("true", {"LC_A": "x\0y"}, "NUL byte"),
    ],
)
def test_finding_12_what_execve_cannot_take_is_an_error_reply(
    harness: Harness, command: str, env: dict[str, str], reason: str
) -> None:
    """Popen raises ValueError for these: the agent answers with an error (and the exit
    status sshd's child gives when it cannot start), so the channel ends at once."""
    spawn(harness, 9, command, env=env)
    data, _ = harness.next("error", timeout=5)
    assert data["ch"] == 9
    assert reason in data["message"]
    assert data["status"] == agent.SPAWN_FAILED
    assert 9 not in harness.agent.processes
    spawn(harness, 9, "echo still here")  # the channel number is free, the agent works
    assert harness.collect(9) == (b"still here\n", b"", 0)


def test_finding_12_env_problem_names_what_is_wrong() -> None:
    assert agent.env_problem("LC_ALL", "C.UTF-8") is None
    assert agent.env_problem("LC_A=B", "x") is not None
    assert agent.env_problem("", "x") is not None
    assert agent.env_problem("LC_A", "x\0") is not None


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_what_a_command_left_in_the_background_ends_with_the_connection(
    harness: Harness,
) -> None:
    """The VS Code flow: a command starts a server in the background and ends; the
    server keeps running while the connection lasts, and ends with it."""
    spawn(harness, 9, "nohup sleep 300 >/dev/null 2>&1 & echo $!")
    stdout, _, status = harness.collect(9)
    pid = int(stdout)
    assert status == 0
    assert _running(pid)
    harness.agent.shutdown()
    deadline = time.monotonic() + 10
    while _running(pid):
        assert time.monotonic() < deadline, "the background process outlived the connection"
        time.sleep(0.02)


# --- forwarding ------------------------------------------------------------------------------


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connect_is_replied_with_its_reason(harness: Harness) -> None:
    harness.agent.handle(
        {"op": "connect", "req": 1, "ch": 20, "host": "127.0.0.1", "port": _refused_port()}, []
    )
    reply, _ = harness.next("reply")
    assert reply["req"] == 1
    assert reply["ok"] is False
    assert "refused" in reply["message"].lower()
    assert 20 not in harness.agent.forwards


def test_a_listener_hands_over_what_it_accepts(harness: Harness) -> None:
    """listen → accepted → adopt: the connection's bytes come out on the channel; its
    EOF is sent as eof, the bridge's eof shuts the socket's write side, then exit."""
    harness.agent.handle(
        {"op": "listen", "req": 2, "listener": 1, "host": "127.0.0.1", "port": 0}, []
    )
    reply, _ = harness.next("reply")
    assert reply["ok"] is True
    with socket.create_connection(("127.0.0.1", reply["port"]), timeout=10) as conn:
        accepted, _ = harness.next("accepted")
        assert accepted["listener"] == 1
        harness.agent.handle({"op": "adopt", "conn": accepted["conn"], "ch": 21}, [])
        conn.sendall(b"to the client")
        conn.shutdown(socket.SHUT_WR)
        out, buffers = harness.next("out")
        assert (out["ch"], buffers[0]) == (21, b"to the client")
        assert harness.next("eof")[0]["ch"] == 21
        harness.agent.handle({"op": "stdin", "ch": 21}, [b"to the peer"])
        harness.agent.handle({"op": "eof", "ch": 21}, [])
        conn.settimeout(10)
        assert conn.recv(100) == b"to the peer"
        assert conn.recv(100) == b""  # the bridge's EOF
        assert harness.next("exit")[0]["ch"] == 21


def test_unlisten_and_shutdown_close_the_listeners(harness: Harness) -> None:
    ports = []
    for number in (1, 2):
        harness.agent.handle(
            {"op": "listen", "req": number, "listener": number, "host": "127.0.0.1", "port": 0},
            [],
        )
        ports.append(harness.next("reply")[0]["port"])
    harness.agent.handle({"op": "unlisten", "req": 3, "listener": 1}, [])
    # The reply comes after the close: the bridge answers the client's cancel on it.
    assert harness.next("reply")[0] == {"op": "reply", "req": 3, "ok": True}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=10).close()
    harness.agent.handle({"op": "unlisten", "req": 4, "listener": 1}, [])
    assert harness.next("reply")[0] == {"op": "reply", "req": 4, "ok": False}
    harness.agent.shutdown()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
