"""The bridge's agent: the code that runs inside the kernel, one instance per connection.

The bridge executes this module's *source* (read from the installed package, never built
by string interpolation) as one silent cell; the ``__main__`` block at the bottom then
registers the comm target :data:`TARGET`. The bridge opens one comm to it and every SSH
channel of the connection is multiplexed over that comm as JSON ``data`` plus binary
``buffers`` — no ``print``, no in-band sentinels.

Each channel is a process of its own in the kernel's host: on a PTY (``pty`` given) or
on pipes (stdout and stderr apart, stdin closed at the client's EOF). Flow control is by
credit in both directions: a reader thread sends at most :data:`OUT_WINDOW` unacknowledged
bytes per stream, and the bridge sends at most ``IN_WINDOW`` unacknowledged stdin bytes.
All output of the kernel is also held under :data:`MAX_MESSAGES_PER_SECOND`, so the Jupyter
server's IOPub rate limits (left at their defaults) never drop a message.

Standard library only: the kernel's environment need not have jupyssh installed.

Messages, bridge → agent (``op``): ``reader`` (``want``: ``auto``, ``compiled`` or
``pure``; buffers: the pure reader's source, and optionally a compiled module), ``spawn``,
``stdin`` (buffer), ``eof``, ``resize``, ``ack`` (output credit), ``kill``. Agent → bridge:
``hello``, ``ready`` (``impl``: the reader this kernel runs), ``out`` (buffer; ``fd`` 1 or
2), ``ack`` (stdin credit), ``exit`` (``status``, and ``signal`` if a signal ended the
process), ``error`` (``status``: the exit status the client gets).

Forwarding: ``connect`` (``req``, ``ch``, ``host`` and ``port`` or ``path``) opens a
:class:`Forward` on channel ``ch``, which then takes ``stdin``, ``eof``, ``ack`` and
``kill`` as a process does and answers ``out``, ``ack``, ``eof`` (its peer's EOF) and
``exit`` (both directions ended). ``listen`` (``req``, ``listener``, ``host``, ``port``)
opens a :class:`Listener`; ``unlisten`` closes it; each connection it accepts is
announced with ``accepted`` (``listener``, ``conn``, ``origin``) and becomes a forward on
the bridge's ``adopt`` (``conn``, ``ch``), or is closed on ``drop``. ``connect`` and
``listen`` are answered with ``reply`` (``req``, ``ok``, and ``message`` or ``port``).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import importlib.util
import os
import platform
import pwd
import queue
import signal
import socket
import struct
import subprocess
import sysconfig
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

TARGET = "jupyssh.bridge.v1"
PROTOCOL = 1
#: Unacknowledged output bytes per stream before its reader waits for the bridge.
OUT_WINDOW = 4 * 1024 * 1024
#: Most bytes in one output message.
MAX_CHUNK = 512 * 1024
#: How long a reader keeps gathering output after the first byte (seconds).
COALESCE_WINDOW = 0.001
#: A chunk smaller than this leaves as soon as the descriptor is drained, without waiting
#: out the window: a keystroke's echo, a prompt. Bulk output still coalesces.
EAGER_BELOW = 1024
#: Capacity asked for the output pipes of a command (Linux's default unprivileged maximum,
#: ``/proc/sys/fs/pipe-max-size``). With the default 64 KiB a fast producer fills the pipe
#: between two reads, and a 512 KiB chunk takes eight reads and eight waits: measured,
#: 1 MiB halves the readers' CPU per MB. Pages are only allocated as data is written.
PIPE_SIZE = 1024 * 1024
#: Stdin bytes written before the agent returns credit to the bridge (whose window is a
#: multiple of this): one acknowledgement per 256 KiB, not one per keystroke.
STDIN_ACK_EVERY = 256 * 1024
#: Output messages per second, all channels together: well under the Jupyter server's
#: default ``iopub_msg_rate_limit`` (1000/s averaged over 3 s).
MAX_MESSAGES_PER_SECOND = 400
#: Seconds between checks of a stop flag in every waiting loop of the agent.
POLL = 0.25
#: Exit status of a channel whose process could not be started, as sshd's child exits
#: when it cannot run the shell.
SPAWN_FAILED = 1
#: Environment the kernel sets for itself that a login must not inherit.
KERNEL_ENV = frozenset(
    {
        "JPY_PARENT_PID",
        "JPY_SESSION_NAME",
        "MPLBACKEND",
        "PAGER",
        "GIT_PAGER",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "FORCE_COLOR",
        "TERM",
        "COLUMNS",
        "LINES",
        "PYDEVD_USE_FRAME_EVAL",
    }
)

Send = Callable[[dict[str, Any], Sequence[bytes]], None]


def env_problem(name: str, value: str) -> str | None:
    """Why ``name=value`` cannot go into a process's environment, or ``None`` if it can
    (``execve`` takes C strings: no NUL anywhere, no ``=`` in the name)."""
    if not name or "=" in name or "\0" in name:
        return f"invalid environment variable name {name!r}"
    if "\0" in value:
        return f"the value of {name} contains a NUL byte"
    return None


def spawn_problem(command: str | None, env: dict[str, str]) -> str | None:
    """Why a process cannot be started with ``command`` and ``env``, or ``None``."""
    if command is not None and "\0" in command:
        return "the command contains a NUL byte"
    for name, value in env.items():
        problem = env_problem(name, value)
        if problem is not None:
            return problem
    return None


def signal_name(signum: int) -> str:
    """A signal's name as SSH's ``exit-signal`` carries it, without ``SIG`` (``TERM``):
    names, not numbers, because the bridge's host may number signals differently."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        return str(signum)
    return name[3:] if name.startswith("SIG") else name


def exit_status(returncode: int) -> int:
    """The SSH exit status of a finished process: its code, or 128+signal."""
    return 128 - returncode if returncode < 0 else returncode


class RateLimiter:
    """A token bucket shared by every reader of one agent (readers call :meth:`take`)."""

    def __init__(self, per_second: float, burst: int = 50) -> None:
        self.per_second = per_second
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait (sleeping, bounded by the refill time) until one message may be sent."""
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.per_second)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.per_second
            time.sleep(wait)


class Credit:
    """Bytes a sender may still have in flight; the sender waits, the receiver's acks
    return credit. ``close`` releases every waiter."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.in_flight = 0
        self.closed = False
        self._cond = threading.Condition()

    def wait_room(self) -> bool:
        """Wait until fewer than ``window`` bytes are in flight; ``False`` once closed
        (called by the reader threads, before each read)."""
        with self._cond:
            while self.in_flight >= self.window and not self.closed:
                self._cond.wait(POLL)
            return not self.closed

    def add(self, size: int) -> None:
        with self._cond:
            self.in_flight += size

    def release(self, size: int) -> None:
        with self._cond:
            self.in_flight = max(0, self.in_flight - size)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class Process:
    """One channel's process, its reader threads, its stdin writer and its waiter."""

    def __init__(self, agent: Agent, channel: int, spec: dict[str, Any]) -> None:
        self.agent = agent
        self.channel = channel
        self.pty = spec.get("pty")
        self.stdin_queue: queue.Queue[bytes | None] = queue.Queue()
        self.credits: dict[int, Credit] = {}
        self.readers: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.master: int | None = None
        self.stdin_fd: int | None = None
        #: CPU seconds the readers spent in ``Reader.read``, and the bytes they returned.
        self.reader_cpu = 0.0
        self.out_bytes = 0
        self._stats_lock = threading.Lock()
        self._stdin_close: Callable[[], None] = _nothing
        self.proc = self._start(spec)

    # --- start ---------------------------------------------------------------------------

    def _start(self, spec: dict[str, Any]) -> subprocess.Popen[bytes]:
        shell = _login_shell()
        command = spec.get("command")
        requested = spec.get("env") or {}
        problem = spawn_problem(command, requested)
        if problem is not None:
            raise ValueError(problem)
        env = _environment(requested, self.pty)
        home = env.get("HOME") or os.path.expanduser("~")
        cwd = home if os.path.isdir(home) else None
        if command is None:
            argv = ["-" + os.path.basename(shell)]  # a login shell, as sshd starts it
        else:
            argv = [os.path.basename(shell), "-c", command]
        if self.pty is not None:
            return self._start_pty(shell, argv, env, cwd)
        proc = subprocess.Popen(
            argv,
            executable=shell,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        if proc.stdin is None or proc.stdout is None or proc.stderr is None:
            raise OSError("the process has no pipes")
        for pipe in (proc.stdout, proc.stderr):
            _grow_pipe(pipe.fileno())
        self.stdin_fd = proc.stdin.fileno()
        self._stdin_close = proc.stdin.close
        self._read(proc.stdout.fileno(), 1, proc.stdout.close)
        self._read(proc.stderr.fileno(), 2, proc.stderr.close)
        return proc

    def _start_pty(
        self, shell: str, argv: list[str], env: dict[str, str], cwd: str | None
    ) -> subprocess.Popen[bytes]:
        import pty  # noqa: PLC0415 - only channels with a PTY need it
        import termios  # noqa: PLC0415

        size: dict[str, Any] = self.pty or {}
        master, slave = pty.openpty()
        try:
            _set_size(master, int(size.get("rows", 24)), int(size.get("cols", 80)))
            proc = subprocess.Popen(
                argv,
                executable=shell,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
                # the new session's controlling terminal is this PTY (Ctrl+C, job control)
                preexec_fn=_make_controlling_tty(termios.TIOCSCTTY),  # noqa: PLW1509
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = self.stdin_fd = master
        self._read(master, 1, None)  # the master is closed by the waiter, once
        return proc

    def _read(self, fd: int, stream: int, close: Callable[[], None] | None) -> None:
        credit = self.credits[stream] = Credit(OUT_WINDOW)
        thread = threading.Thread(
            target=self._pump_out,
            args=(fd, stream, credit, close),
            name=f"jupyssh-agent-read-{self.channel}-{stream}",
            daemon=True,
        )
        self.readers.append(thread)

    def begin(self) -> None:
        """Start the threads (after ``_start`` so a spawn failure leaves none behind)."""
        for thread in self.readers:
            thread.start()
        threading.Thread(
            target=self._pump_in, name=f"jupyssh-agent-write-{self.channel}", daemon=True
        ).start()
        threading.Thread(
            target=self._wait, name=f"jupyssh-agent-wait-{self.channel}", daemon=True
        ).start()

    # --- threads -------------------------------------------------------------------------

    def _pump_out(
        self, fd: int, stream: int, credit: Credit, close: Callable[[], None] | None
    ) -> None:
        reader = self.agent.reader_class(fd, MAX_CHUNK, COALESCE_WINDOW, EAGER_BELOW)
        cpu = 0.0
        total = 0
        try:
            while not self.stopping.is_set():
                if not credit.wait_room():
                    return
                started = time.thread_time()
                try:
                    data = reader.read(POLL)
                except OSError:
                    return
                finally:
                    cpu += time.thread_time() - started
                if data is None:
                    continue
                if not data:
                    return
                total += len(data)
                credit.add(len(data))
                self.agent.limiter.take()
                self.agent.send({"op": "out", "ch": self.channel, "fd": stream}, [data])
        finally:
            with self._stats_lock:
                self.reader_cpu += cpu
                self.out_bytes += total
            if close is not None:
                with contextlib.suppress(OSError):
                    close()

    def _pump_in(self) -> None:
        unacked = 0
        try:
            while True:
                try:
                    data = self.stdin_queue.get(timeout=POLL)
                except queue.Empty:
                    if self.stopping.is_set():
                        return
                    continue
                if data is None:
                    return  # the client's EOF, or the process ended
                fd = self.stdin_fd
                if fd is None:
                    continue
                # the process may have closed its stdin: the bytes are dropped, as with sshd
                with contextlib.suppress(OSError):
                    _write_all(fd, data, self.stopping)
                unacked += len(data)
                if unacked >= STDIN_ACK_EVERY:
                    self.agent.send({"op": "ack", "ch": self.channel, "n": unacked}, [])
                    unacked = 0
        finally:
            if self.pty is None:
                self.stdin_fd = None
                with contextlib.suppress(OSError):
                    self._stdin_close()  # closes the pipe once (a file object)

    def _wait(self) -> None:
        returncode = self.proc.wait()
        if self.pty is not None:
            # Output written just before exit is still in the PTY: let the reader drain
            # it (it ends at EIO once every slave end is closed), bounded because a
            # background job may keep the slave open.
            deadline = time.monotonic() + 2.0
            for thread in self.readers:
                thread.join(max(0.0, deadline - time.monotonic()))
            self.stopping.set()
        for thread in self.readers:
            while thread.is_alive():
                thread.join(POLL)  # pipes: wait for EOF, as sshd does
        self.stopping.set()
        self.stdin_queue.put(None)
        master, self.master = self.master, None
        if self.pty is not None:
            self.stdin_fd = None
        if master is not None:
            with contextlib.suppress(OSError):
                os.close(master)
        signum = -returncode if returncode < 0 else None
        self.agent.finished(self, exit_status(returncode), signum)

    def stats(self) -> dict[str, Any]:
        """What the readers cost: sent with the exit report (the bridge's benchmarks and
        debug log read it)."""
        with self._stats_lock:
            return {"reader_cpu": self.reader_cpu, "bytes": self.out_bytes}

    # --- requests from the bridge ----------------------------------------------------------
    # The ``on_*`` methods take a message as it came (see :data:`PROCESS_OPS`).

    def on_stdin(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.stdin_queue.put(b"".join(bytes(b) for b in buffers))

    def on_eof(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.stdin_queue.put(None)

    def on_ack(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        credit = self.credits.get(int(data.get("fd", 1)))
        if credit is not None:
            credit.release(int(data["n"]))

    def on_resize(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.resize(int(data["rows"]), int(data["cols"]))

    def on_kill(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.kill()

    def resize(self, rows: int, cols: int) -> None:
        if self.master is not None and not self.stopping.is_set():
            with contextlib.suppress(OSError):
                _set_size(self.master, rows, cols)

    def kill(self) -> None:
        """Hang up the process group, then kill it if it is still there after 2 s."""
        self.stopping.set()
        for credit in self.credits.values():
            credit.close()
        _signal_group(self.proc, signal.SIGHUP)
        if self.proc.poll() is None:
            timer = threading.Timer(2.0, _signal_group, args=(self.proc, signal.SIGKILL))
            timer.daemon = True
            timer.start()


#: The bridge's messages for one channel's process, by ``op``: a message for a channel
#: that has no process (it ended, or never started) is dropped.
PROCESS_OPS: dict[str, Callable[[Process, dict[str, Any], Sequence[bytes]], None]] = {
    "stdin": Process.on_stdin,
    "eof": Process.on_eof,
    "ack": Process.on_ack,
    "resize": Process.on_resize,
    "kill": Process.on_kill,
}


#: Seconds the agent gives a forward's ``connect`` (then: "connect failed").
CONNECT_TIMEOUT = 10.0
#: Pending connections a remote-forward listener queues.
LISTEN_BACKLOG = 128


class Forward:
    """One forwarded connection: a connected socket on the kernel's host, carried on a
    channel as a process's stdin and stdout are (same credit, same reader), with
    half-close as sshd: the client's EOF shuts the socket's write side, the socket's EOF
    is sent as ``eof``; once both directions ended (or on ``kill``), ``exit``."""

    def __init__(self, agent: Agent, channel: int, sock: socket.socket) -> None:
        self.agent = agent
        self.channel = channel
        self.sock = sock
        self.credit = Credit(OUT_WINDOW)
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.stopping = threading.Event()
        self._ended = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        for target, role in ((self._pump_out, "read"), (self._pump_in, "write")):
            threading.Thread(
                target=target, name=f"jupyssh-agent-fwd-{role}-{self.channel}", daemon=True
            ).start()

    def _pump_out(self) -> None:
        reader = self.agent.reader_class(
            self.sock.fileno(), MAX_CHUNK, COALESCE_WINDOW, EAGER_BELOW
        )
        try:
            while not self.stopping.is_set():
                if not self.credit.wait_room():
                    return
                try:
                    data = reader.read(POLL)
                except OSError:
                    break  # reset by the peer: an EOF for the client
                if data is None:
                    continue
                if not data:
                    break
                self.credit.add(len(data))
                self.agent.limiter.take()
                self.agent.send({"op": "out", "ch": self.channel, "fd": 1}, [data])
            if not self.stopping.is_set():
                self.agent.send({"op": "eof", "ch": self.channel}, [])
        finally:
            self._end()

    def _pump_in(self) -> None:
        unacked = 0
        try:
            while True:
                try:
                    data = self.inbox.get(timeout=POLL)
                except queue.Empty:
                    if self.stopping.is_set():
                        return
                    continue
                if data is None:
                    with contextlib.suppress(OSError):
                        self.sock.shutdown(socket.SHUT_WR)  # the client's EOF
                    return
                try:
                    self.sock.sendall(data)
                except OSError:
                    return  # the peer is gone: what the client sends now is dropped
                unacked += len(data)
                if unacked >= STDIN_ACK_EVERY:
                    self.agent.send({"op": "ack", "ch": self.channel, "n": unacked}, [])
                    unacked = 0
        finally:
            self._end()

    def _end(self) -> None:
        """One direction ended; after both, close the socket and report ``exit``."""
        with self._lock:
            self._ended += 1
            if self._ended != 2:
                return
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.agent.finished_forward(self)

    # --- requests from the bridge (see FORWARD_OPS) ----------------------------------------

    def on_stdin(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.inbox.put(b"".join(bytes(b) for b in buffers))

    def on_eof(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.inbox.put(None)

    def on_ack(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.credit.release(int(data["n"]))

    def on_kill(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        self.kill()

    def kill(self) -> None:
        """The channel closed: end both directions now (unblocks a stuck ``sendall``)."""
        self.stopping.set()
        self.credit.close()
        self.inbox.put(None)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


#: The bridge's messages for one forwarded connection, by ``op``.
FORWARD_OPS: dict[str, Callable[[Forward, dict[str, Any], Sequence[bytes]], None]] = {
    "stdin": Forward.on_stdin,
    "eof": Forward.on_eof,
    "ack": Forward.on_ack,
    "kill": Forward.on_kill,
}


def open_connection(data: dict[str, Any]) -> socket.socket:
    """Connect to what a ``connect`` message names: ``path`` (a Unix socket) or
    ``host`` and ``port`` (raises ``OSError``; bounded by :data:`CONNECT_TIMEOUT`)."""
    path = data.get("path")
    if path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _connect_unix(sock, str(path))
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection(
            (str(data["host"]), int(data["port"])), timeout=CONNECT_TIMEOUT
        )
    sock.settimeout(None)
    return sock


def _connect_unix(sock: socket.socket, path: str) -> None:
    """Connect to a Unix socket whose backlog may be full: Linux answers that with
    ``EAGAIN`` at once (not by waiting), so try again until :data:`CONNECT_TIMEOUT`."""
    sock.settimeout(CONNECT_TIMEOUT)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            sock.connect(path)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: its backlog stayed full") from None
            time.sleep(0.01)
            continue
        return


class Listener:
    """A remote forward's listening socket on the kernel's host; each accepted
    connection is announced (``accepted``) and waits for the bridge's ``adopt``."""

    def __init__(self, agent: Agent, number: int, sock: socket.socket) -> None:
        self.agent = agent
        self.number = number
        self.sock = sock
        self.closed = threading.Event()

    def begin(self) -> None:
        threading.Thread(
            target=self._accept_loop, name=f"jupyssh-agent-listen-{self.number}", daemon=True
        ).start()

    def _accept_loop(self) -> None:
        import select  # noqa: PLC0415 - only listeners need it

        while not self.closed.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], POLL)
                if not readable:
                    continue
                conn, origin = self.sock.accept()
            except (OSError, ValueError):
                if self.closed.is_set():
                    return
                continue
            self.agent.accepted(self, conn, origin)

    def close(self) -> None:
        """Stop listening now: the accept thread's ``select`` holds the socket open until
        it returns, and the kernel would accept into the backlog meanwhile; Linux's
        ``shutdown`` of a listening socket ends the listen at once."""
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


def open_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (an address) and ``port`` (0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


class Agent:
    """The agent of one connection: routes the bridge's messages to :class:`Process`es.

    ``send(data, buffers)`` delivers a message to the bridge; it is called from many
    threads and serialised here. :meth:`handle` is called with each message from the
    bridge, on the kernel's shell thread: it never blocks.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._send_lock = threading.Lock()
        self.processes: dict[int, Process] = {}
        self.limiter = RateLimiter(MAX_MESSAGES_PER_SECOND)
        self.reader_class: Any = None
        self.reader_impl = "none"
        self._private_dir: str | None = None
        #: The process group of every process started (each leads its own): what a
        #: command left running in the background (a VS Code server) stays in its
        #: group, and ends with the connection.
        self.groups: list[int] = []
        self.forwards: dict[int, Forward] = {}
        self.listeners: dict[int, Listener] = {}
        #: Accepted connections waiting for the bridge's ``adopt`` (or ``drop``).
        self.pending: dict[int, socket.socket] = {}
        self._accepted = 0
        self._forward_lock = threading.Lock()
        #: The bridge's messages to the agent itself, by ``op`` (the rest: PROCESS_OPS
        #: and FORWARD_OPS).
        self._routes: dict[str, Callable[[dict[str, Any], Sequence[bytes]], None]] = {
            "reader": self._load_reader,
            "spawn": self._spawn,
            "connect": self._connect,
            "listen": self._listen,
            "unlisten": self._unlisten,
            "adopt": self._adopt,
            "drop": self._drop,
        }

    def send(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        with self._send_lock:
            self._send(data, buffers)

    def hello(self) -> None:
        self.send(
            {
                "op": "hello",
                "protocol": PROTOCOL,
                "pid": os.getpid(),
                "python": platform.python_version(),
                "soabi": sysconfig.get_config_var("SOABI"),
                "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
                "machine": platform.machine(),
                "system": platform.system(),
                "libc": list(platform.libc_ver()),
                "installed": _installed_version(),
            },
            [],
        )

    def handle(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        op = str(data.get("op"))
        route = self._routes.get(op)
        if route is not None:
            route(data, buffers)
            return
        channel = int(data.get("ch", -1))
        forward = self.forwards.get(channel)
        if forward is not None:
            forward_op = FORWARD_OPS.get(op)
            if forward_op is not None:
                forward_op(forward, data, buffers)
            return
        process_op = PROCESS_OPS.get(op)
        process = self.processes.get(channel)
        if process_op is not None and process is not None:
            process_op(process, data, buffers)

    # --- forwarding ------------------------------------------------------------------------
    # Connecting and binding may take time: both run on a thread of their own, and answer
    # with ``reply`` (``req``: the request's number, ``ok``, ``message`` or ``port``).

    def _reply(self, data: dict[str, Any], **answer: Any) -> None:
        self.send({"op": "reply", "req": data.get("req"), **answer}, [])

    def _connect(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        threading.Thread(target=self._connect_now, args=(data,), daemon=True).start()

    def _connect_now(self, data: dict[str, Any]) -> None:
        channel = int(data.get("ch", -1))
        try:
            sock = open_connection(data)
        except (OSError, ValueError, KeyError) as exc:
            self._reply(data, ok=False, message=str(exc) or type(exc).__name__)
            return
        self._start_forward(channel, sock)
        self._reply(data, ok=True)

    def _start_forward(self, channel: int, sock: socket.socket) -> None:
        forward = Forward(self, channel, sock)
        with self._forward_lock:
            self.forwards[channel] = forward
        forward.begin()

    def finished_forward(self, forward: Forward) -> None:
        with self._forward_lock:
            self.forwards.pop(forward.channel, None)
        self.send({"op": "exit", "ch": forward.channel, "status": 0}, [])

    def _listen(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        threading.Thread(target=self._listen_now, args=(data,), daemon=True).start()

    def _listen_now(self, data: dict[str, Any]) -> None:
        number = int(data.get("listener", -1))
        try:
            sock = open_listener(str(data["host"]), int(data["port"]))
        except (OSError, ValueError, KeyError, OverflowError) as exc:
            self._reply(data, ok=False, message=str(exc) or type(exc).__name__)
            return
        listener = Listener(self, number, sock)
        with self._forward_lock:
            self.listeners[number] = listener
        listener.begin()
        self._reply(data, ok=True, port=sock.getsockname()[1])

    def _unlisten(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        with self._forward_lock:
            listener = self.listeners.pop(int(data.get("listener", -1)), None)
        if listener is not None:
            listener.close()
        self._reply(data, ok=listener is not None)

    def accepted(self, listener: Listener, sock: socket.socket, origin: Any) -> None:
        """A listener accepted ``sock``: hold it until the bridge opened its channel."""
        with self._forward_lock:
            self._accepted += 1
            number = self._accepted
            self.pending[number] = sock
        host, port = (str(origin[0]), int(origin[1])) if isinstance(origin, tuple) else ("", 0)
        self.send(
            {"op": "accepted", "listener": listener.number, "conn": number, "origin": [host, port]},
            [],
        )

    def _adopt(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        with self._forward_lock:
            sock = self.pending.pop(int(data.get("conn", -1)), None)
        if sock is not None:
            self._start_forward(int(data.get("ch", -1)), sock)

    def _drop(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        with self._forward_lock:
            sock = self.pending.pop(int(data.get("conn", -1)), None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _spawn(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        channel = int(data.get("ch", -1))
        if channel in self.processes or self.reader_class is None:
            reason = "channel in use" if channel in self.processes else "no reader loaded"
            self.send({"op": "error", "ch": channel, "message": reason}, [])
            return
        try:
            process = Process(self, channel, data)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            # ValueError: what execve cannot take (a NUL, a name with "="); without a
            # reply here the client's channel would wait forever
            message = f"cannot start: {exc}"
            self.send(
                {"op": "error", "ch": channel, "message": message, "status": SPAWN_FAILED}, []
            )
            return
        self.processes[channel] = process
        self.groups.append(process.proc.pid)
        process.begin()

    def finished(self, process: Process, status: int, signum: int | None) -> None:
        """A process ended and its output was sent: report it (waiter thread)."""
        self.processes.pop(process.channel, None)
        report: dict[str, Any] = {"op": "exit", "ch": process.channel, "status": status}
        if signum is not None:
            report["signal"] = signal_name(signum)
        self.send({**report, **process.stats()}, [])

    def _load_reader(self, data: dict[str, Any], buffers: Sequence[bytes]) -> None:
        """Pick the reader: unless the bridge wants the pure one, the compiled one of an
        installed ``jupyssh-bridge`` of the bridge's own version, else the module the
        bridge sent (if its digest matches); else the pure source the bridge sent. The
        bridge decides what to do when it wanted ``compiled`` and got ``pure``."""
        reader: Any = None
        source = "pure"
        if data.get("want", "auto") != "pure":
            reader = _installed_reader(str(data.get("version")))
            source = "installed"
            if reader is None and data.get("compiled") and len(buffers) > 1:
                reader = self._load_shipped(str(data["compiled"]), bytes(buffers[1]), data)
                source = "shipped"
        if reader is None:
            module = types.ModuleType("jupyssh_bridge_reader_py")
            code = compile(bytes(buffers[0]).decode("utf-8"), "<jupyssh _reader_py>", "exec")
            exec(code, module.__dict__)  # noqa: S102 - the bridge's own module source
            reader = module.Reader
            source = "pure"
        self.reader_class = reader
        self.reader_impl = "compiled" if source in {"installed", "shipped"} else "pure"
        self.send({"op": "ready", "impl": self.reader_impl, "source": source}, [])

    def _load_shipped(self, name: str, blob: bytes, data: dict[str, Any]) -> Any:
        if hashlib.sha256(blob).hexdigest() != data.get("sha256"):
            return None
        if os.path.basename(name) != name or not name.startswith("_reader."):
            return None
        try:
            self._private_dir = tempfile.mkdtemp(prefix="jupyssh-bridge-")  # mode 0700
            path = os.path.join(self._private_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            spec = importlib.util.spec_from_file_location("jupyssh.bridge._reader", path)
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (OSError, ImportError):
            return None
        return module.Reader

    def shutdown(self) -> None:
        """Kill every process (the kernel is going away; called at exit and on close)."""
        for process in list(self.processes.values()):
            process.kill()
            _signal_group(process.proc, signal.SIGKILL)
        for group in self.groups:
            for signum in (signal.SIGHUP, signal.SIGTERM):  # nohup ignores the first
                with contextlib.suppress(OSError):
                    os.killpg(group, signum)
        with self._forward_lock:
            listeners = list(self.listeners.values())
            self.listeners.clear()
            forwards = list(self.forwards.values())
            pending = list(self.pending.values())
            self.pending.clear()
        for listener in listeners:
            listener.close()
        for forward in forwards:
            forward.kill()
        for sock in pending:
            with contextlib.suppress(OSError):
                sock.close()
        if self._private_dir is not None:
            for name in os.listdir(self._private_dir):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._private_dir, name))
            with contextlib.suppress(OSError):
                os.rmdir(self._private_dir)


def _nothing() -> None:
    return None


def _installed_version() -> str | None:
    """The version of ``jupyssh-bridge`` in the kernel's environment, if any."""
    try:
        from jupyssh.bridge._version import __version__  # noqa: PLC0415
    except ImportError:
        return None
    return str(__version__)


def _installed_reader(version: str) -> Any:
    """The installed compiled reader, if the installation is the bridge's ``version``
    (another version's reader may not take the same arguments)."""
    if os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1" or _installed_version() != version:
        return None
    try:
        from jupyssh.bridge._reader import Reader  # noqa: PLC0415
    except ImportError:
        return None
    return Reader


def _login_shell() -> str:
    with contextlib.suppress(KeyError):
        shell = pwd.getpwuid(os.getuid()).pw_shell
        if shell and os.access(shell, os.X_OK):
            return shell
    return "/bin/sh"


def _environment(requested: dict[str, str], pty: dict[str, Any] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV}
    with contextlib.suppress(KeyError):
        entry = pwd.getpwuid(os.getuid())
        env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
        env["SHELL"] = _login_shell()
    env.update(requested)
    if pty is not None:
        env["TERM"] = str(pty.get("term") or "xterm")
    return env


def _grow_pipe(fd: int) -> None:
    """Ask for a :data:`PIPE_SIZE` pipe buffer; keep the default where the system refuses
    (not Linux, or the user's pipe-buffer quota is used up)."""
    import fcntl  # noqa: PLC0415

    request = getattr(fcntl, "F_SETPIPE_SZ", None)
    if request is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, request, PIPE_SIZE)


def _set_size(fd: int, rows: int, cols: int) -> None:
    import fcntl  # noqa: PLC0415
    import termios  # noqa: PLC0415

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _make_controlling_tty(request: int) -> Callable[[], None]:
    import fcntl  # noqa: PLC0415

    ioctl = fcntl.ioctl

    def _preexec() -> None:  # runs in the child, after setsid, fds already in place
        ioctl(0, request, 0)

    return _preexec


def _write_all(fd: int, data: bytes, stopping: threading.Event) -> None:
    view = memoryview(data)
    while view and not stopping.is_set():
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            time.sleep(0.01)
            continue
        view = view[written:]


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signum)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            with contextlib.suppress(OSError):
                proc.send_signal(signum)


def install(kernel: Any) -> None:
    """Register :data:`TARGET` on ``kernel``'s comm manager (ipykernel 6 and 7): each comm
    the bridge opens gets its own :class:`Agent`."""

    def _open(comm: Any, msg: dict[str, Any]) -> None:
        def _send(data: dict[str, Any], buffers: Sequence[bytes]) -> None:
            comm.send(data, buffers=list(buffers))

        agent = Agent(_send)
        atexit.register(agent.shutdown)

        def _on_msg(message: dict[str, Any]) -> None:
            agent.handle(message["content"]["data"], message.get("buffers") or [])

        def _on_close(message: dict[str, Any]) -> None:
            agent.shutdown()

        comm.on_msg(_on_msg)
        comm.on_close(_on_close)
        agent.hello()

    kernel.comm_manager.register_target(TARGET, _open)


if __name__ == "__main__":  # executed as a cell by the bridge
    install(get_ipython().kernel)  # type: ignore[name-defined]  # noqa: F821
