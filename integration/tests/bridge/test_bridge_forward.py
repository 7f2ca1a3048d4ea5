"""Port forwarding through the bridge with OpenSSH's ssh against the Jupyter container:
``ssh -L`` (TCP and a Unix socket), ``-W``, ``-D`` with curl's SOCKS, ``-R`` with its
cancel and its end with the connection, and the two refusals ssh tells apart."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import http.server
import os
import re
import shlex
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client
from jupyssh_harness import JupyterServer, KeyPair, wait_for

from jupyssh.bridge.forwarding import ForwardingPolicy
from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig

from .conftest import BridgeEndpoint, pin_host_key, write_authorized_keys

pytestmark = [pytest.mark.integration]

#: Where the container's test services listen (its loopback) and keep their files.
HTTP_PORT = 18765
WWW = "/tmp/jupyssh-forward-www"
UNIX_SOCKET = "/tmp/jupyssh-forward.sock"
BLOB_SIZE = 100_000_000
TIMEOUT = 120.0

#: A Unix-socket server for the container: answers each connection with what it read,
#: reversed, once the client's EOF came (so a half-close is needed to see the reply).
UNIX_SERVER = f"""
import os, socket, threading
path = {UNIX_SOCKET!r}
if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(128)
def one(conn):
    with conn:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.sendall(data[::-1])
while True:
    threading.Thread(target=one, args=(server.accept()[0],), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def services(jupyter_server: JupyterServer) -> str:
    """An HTTP server on the container's loopback serving a 100 MB random file (its
    SHA-256 returned) and a small one, and a Unix-socket server; both left running."""
    script = (
        f"mkdir -p {WWW} && head -c {BLOB_SIZE} /dev/urandom > {WWW}/blob && "
        f"echo small > {WWW}/small && "
        f"(nohup python3 -m http.server {HTTP_PORT} --bind 127.0.0.1 --directory {WWW} "
        f">/dev/null 2>&1 &) && "
        f"(nohup python3 -c {shlex.quote(UNIX_SERVER)} >/dev/null 2>&1 &) && "
        f"sha256sum {WWW}/blob"
    )
    digest = jupyter_server.exec(["bash", "-c", script]).stdout.split()[0]
    probe = (
        "import socket, sys\n"
        f"socket.create_connection(('127.0.0.1', {HTTP_PORT}), timeout=2).close()\n"
        f"socket.socket(socket.AF_UNIX).connect({UNIX_SOCKET!r})\n"
    )
    wait_for(
        lambda: jupyter_server.exec(["python3", "-c", probe], check=False).exit_code == 0,
        timeout=30,
        what="the container's test services",
    )
    return digest


@contextlib.contextmanager
def ssh_forwarding(bridge: BridgeEndpoint, *flags: str) -> Iterator[subprocess.Popen[bytes]]:
    """``ssh -N FLAGS`` to the bridge, running until the block ends."""
    argv = [
        "ssh",
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        *flags,
        *bridge.options(),
        "jupyter@127.0.0.1",
    ]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        stop_ssh(proc)
        if proc.stderr is not None:
            proc.stderr.close()


def stop_ssh(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s: OpenSSH's ``ssh -N -L`` was seen to outlive a
    SIGTERM by more than 30 s (once against the bridge, once against sshd in a benchmark),
    after its forwards had worked; that is not what these tests check."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        assert proc.poll() is None, "ssh ended before its forward was up"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    wait_for(ready, timeout=TIMEOUT, what=f"ssh listening on {port}")


def fetch_digest(url: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - http on loopback
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- acceptance 1: -L, -W, -D, -L to a Unix socket ---------------------------------------------


def test_local_forward_carries_100_mb_byte_exact(bridge: BridgeEndpoint, services: str) -> None:
    port = free_port()
    with ssh_forwarding(bridge, "-L", f"127.0.0.1:{port}:127.0.0.1:{HTTP_PORT}") as proc:
        wait_listening(port, proc)
        size, digest = fetch_digest(f"http://127.0.0.1:{port}/blob")
    assert size == BLOB_SIZE
    assert digest == services


def test_stdio_forward_with_ssh_w(bridge: BridgeEndpoint, services: str) -> None:
    result = subprocess.run(
        ["ssh", "-W", f"127.0.0.1:{HTTP_PORT}", *bridge.options(), "jupyter@127.0.0.1"],
        input=b"GET /small HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.0 200")
    assert result.stdout.endswith(b"\r\n\r\nsmall\n")


def test_dynamic_forward_with_curl_socks5_hostname(bridge: BridgeEndpoint, services: str) -> None:
    port = free_port()
    with ssh_forwarding(bridge, "-D", f"127.0.0.1:{port}") as proc:
        wait_listening(port, proc)
        # the name is resolved on the Jupyter host, where the server listens
        result = subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                "60",
                "--socks5-hostname",
                f"127.0.0.1:{port}",
                f"http://localhost:{HTTP_PORT}/small",
            ],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"small\n"


def test_local_forward_to_a_unix_socket_with_half_close(
    bridge: BridgeEndpoint, services: str
) -> None:
    port = free_port()
    with ssh_forwarding(bridge, "-L", f"127.0.0.1:{port}:{UNIX_SOCKET}") as proc:
        wait_listening(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
            conn.sendall(b"through a unix socket")
            conn.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
    assert reply == b"tekcos xinu a hguorht"


# --- acceptance 3: many streams on one connection, one stalled --------------------------------


def test_a_hundred_forwards_on_one_connection_and_a_stalled_one(
    bridge: BridgeEndpoint, services: str
) -> None:
    """One ``ssh -L`` carries a download whose reader stops, then 100 connections at once
    (each to the Unix-socket server, each with its own bytes): they all finish while the
    download is still stalled (at least 5 s), and the download is then byte-exact."""
    http_port, unix_port = free_port(), free_port()
    flags = ["-L", f"127.0.0.1:{http_port}:127.0.0.1:{HTTP_PORT}"]
    flags += ["-L", f"127.0.0.1:{unix_port}:{UNIX_SOCKET}"]
    with ssh_forwarding(bridge, *flags) as proc:
        wait_listening(http_port, proc)
        response = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/blob", timeout=TIMEOUT)
        digest = hashlib.sha256(response.read(1 << 20))
        stalled_at = time.monotonic()

        def one(n: int) -> bytes:
            with socket.create_connection(("127.0.0.1", unix_port), timeout=TIMEOUT) as conn:
                conn.sendall(f"connection {n} ".encode() * 100)
                conn.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := conn.recv(65536):
                    reply += chunk
            return reply

        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            replies = list(pool.map(one, range(100)))
        others_took = time.monotonic() - stalled_at
        for n, reply in enumerate(replies):
            assert reply == (f"connection {n} ".encode() * 100)[::-1]
        # the reader stays stopped for 5 s in all: the pause is what is tested
        time.sleep(max(0.0, 5.0 - others_took))
        with response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
    assert digest.hexdigest() == services
    assert others_took < 5.0, f"the other forwards took {others_took:.1f} s"


# --- acceptance 4: the two refusals ---------------------------------------------------------


def test_nothing_listening_is_connect_failed(bridge: BridgeEndpoint, services: str) -> None:
    result = subprocess.run(
        ["ssh", "-W", "127.0.0.1:1", *bridge.options(), "jupyter@127.0.0.1"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert b"connect failed" in result.stderr


@pytest.fixture(scope="module")
def no_forwarding_bridge(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeEndpoint]:
    """A second bridge, serving with ``--forwarding none``."""
    workdir = tmp_path_factory.mktemp("bridge-no-forwarding")
    config = ServerConfig(
        host_key=workdir / "host_key",
        authorized_keys=write_authorized_keys(workdir / "authorized_keys", keypair),
    )
    client = JupyterClient(jupyter_server.url, token=jupyter_server.token)
    server = BridgeServer(client, config, BridgeConfig(forwarding=ForwardingPolicy("none")))
    with server:
        server.start()
        pin_host_key(server, workdir / "known_hosts")
        yield BridgeEndpoint(server.address[1], workdir / "known_hosts", keypair)


def test_a_policy_refusal_is_administratively_prohibited(
    no_forwarding_bridge: BridgeEndpoint, services: str
) -> None:
    result = subprocess.run(
        ["ssh", "-W", f"127.0.0.1:{HTTP_PORT}", *no_forwarding_bridge.options(), "x@127.0.0.1"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert b"administratively prohibited" in result.stderr


# --- acceptance 2: -R, its cancel, its end with the connection -------------------------------


class Greeting(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the test's side"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def local_http() -> Iterator[int]:
    """An HTTP server of the test, on this machine's loopback."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Greeting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(10)


def fetch_code(port: int) -> str:
    """Python that prints what ``http://127.0.0.1:PORT/`` answers."""
    return (
        "import urllib.request\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=20).read().decode())"
    )


def fetch_in_container(jupyter_server: JupyterServer, port: int) -> tuple[int, str]:
    """Fetch ``http://127.0.0.1:PORT/`` on the Jupyter host, outside any kernel (to see
    a listener gone once its kernel is): (exit code, output)."""
    result = jupyter_server.exec(["python3", "-c", fetch_code(port)], check=False)
    return result.exit_code, result.stdout.strip()


def test_remote_forward_cancel_and_end_with_the_connection(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, local_http: int, tmp_path: Path
) -> None:
    control = tmp_path / "control.sock"
    master = bridge.options(control_path=control, control_master="yes")
    proc = subprocess.Popen(
        ["ssh", "-N", *master, "jupyter@127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = bridge.options(control_path=control, control_master="no")

    def ask(*request: str) -> bytes:
        """``ssh -O REQUEST…`` to the master; its output."""
        result = subprocess.run(
            ["ssh", *client, "-O", *request, "jupyter@127.0.0.1"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fetch_in_kernel(port: int) -> tuple[int, str]:
        """Fetch through the connection's own kernel: a command it runs on the host."""
        result = subprocess.run(
            [
                "ssh",
                "-T",
                *client,
                "jupyter@127.0.0.1",
                shlex.join(["python3", "-c", fetch_code(port)]),
            ],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        return result.returncode, result.stdout.decode().strip()

    greeting = (0, "hello from the test's side")
    try:
        wait_for(control.exists, timeout=TIMEOUT, what="the control socket")
        remote_port = free_port()  # a guess for the container's side; 0 is tested below
        forward = f"127.0.0.1:{remote_port}:127.0.0.1:{local_http}"
        ask("forward", "-R", forward)
        # code on the Jupyter host reaches the test's server through the connection
        assert fetch_in_kernel(remote_port) == greeting

        ask("cancel", "-R", forward)
        wait_for(
            lambda: fetch_in_container(jupyter_server, remote_port)[0] != 0,
            timeout=30,
            what="the cancelled listener gone",
        )

        # any free port (0): ssh prints the one the bridge allocated
        allocated = int(re.findall(rb"\d+", ask("forward", "-R", f"0:127.0.0.1:{local_http}"))[0])
        assert fetch_in_kernel(allocated) == greeting
    finally:
        ask("exit")
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()
    # the connection ended: its listeners went with its kernel's agent
    wait_for(
        lambda: fetch_in_container(jupyter_server, allocated)[0] != 0,
        timeout=60,
        what="the listener gone with the connection",
    )


# --- acceptance 5: the VS Code Remote-SSH flow --------------------------------------------

#: A stand-in for VS Code's server: HTTP on / and a WebSocket echo on /ws, on a free port
#: of the Jupyter host's loopback, which it writes to its port file.
STANDIN = r"""
import base64, hashlib, http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() != "websocket":
            body = b"vscode-server stand-in"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        head = self.rfile.read(2)
        size = head[1] & 0x7F
        mask = self.rfile.read(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(size)))
        self.wfile.write(bytes([0x81, len(data)]) + data)
        self.wfile.flush()
        self.close_connection = True
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
"""

#: What VS Code's installer does on an exec channel, reduced: start the server in the
#: background (its output to a log), wait for its port, print it, end.
STARTER = f"""
set -e
dir=$(mktemp -d)
cat > "$dir/server.py" <<'PYEOF'
{STANDIN}
PYEOF
nohup python3 "$dir/server.py" "$dir/port" > "$dir/log" 2>&1 &
echo "pid==$!=="
for i in $(seq 1 300); do [ -e "$dir/port" ] && break; sleep 0.1; done
echo "listeningOn==$(cat "$dir/port")=="
"""


def test_vscode_like_flow_server_in_background_reached_by_a_forward(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    control = tmp_path / "control.sock"
    master = bridge.options(control_path=control, control_master="yes")
    proc = subprocess.Popen(["ssh", "-N", *master, "jupyter@127.0.0.1"], stdin=subprocess.DEVNULL)
    client = bridge.options(control_path=control, control_master="no")
    try:
        wait_for(control.exists, timeout=TIMEOUT, what="the control socket")
        started = subprocess.run(
            ["ssh", "-T", *client, "jupyter@127.0.0.1", "bash"],
            input=STARTER.encode(),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        # the exec channel ended (ssh returned) and the server runs on
        assert started.returncode == 0, started.stderr
        pid = int(re.findall(rb"pid==(\d+)==", started.stdout)[0])
        remote_port = int(re.findall(rb"listeningOn==(\d+)==", started.stdout)[0])

        local_port = free_port()
        forward = subprocess.run(
            [
                "ssh",
                *client,
                "-O",
                "forward",
                "-L",
                f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}",
                "jupyter@127.0.0.1",
            ],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert forward.returncode == 0, forward.stderr
        url = f"http://127.0.0.1:{local_port}/"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            assert response.read() == b"vscode-server stand-in"
        with websockets.sync.client.connect(f"ws://127.0.0.1:{local_port}/ws") as websocket:
            websocket.send("ping through the bridge")
            assert websocket.recv(timeout=TIMEOUT) == "ping through the bridge"
        assert jupyter_server.exec(["kill", "-0", str(pid)], check=False).exit_code == 0
    finally:
        subprocess.run(
            ["ssh", *client, "-O", "exit", "jupyter@127.0.0.1"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        proc.wait(timeout=60)
    # the connection's end stops the background server
    wait_for(
        lambda: jupyter_server.exec(["kill", "-0", str(pid)], check=False).exit_code != 0,
        timeout=60,
        what="the background server stopped with the connection",
    )


# --- acceptance 6: git over ssh ------------------------------------------------------------


def test_git_clone_push_and_fetch_over_the_bridge(
    bridge: BridgeEndpoint, jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    remote = f"/tmp/jupyssh-git-{tmp_path.name}.git"
    jupyter_server.exec(["git", "init", "--quiet", "--bare", remote])
    env = {
        "GIT_SSH_COMMAND": shlex.join(["ssh", *bridge.options()]),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "HOME": str(tmp_path),
        "PATH": os.environ["PATH"],
    }

    def git(*args: str, cwd: Path = tmp_path) -> str:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.decode()

    url = f"jupyter@127.0.0.1:{remote}"
    git("clone", "--quiet", url, "first")
    first = tmp_path / "first"
    (first / "data.bin").write_bytes(bytes(range(256)) * 4096)
    git("add", "data.bin", cwd=first)
    git("commit", "--quiet", "-m", "through the bridge", cwd=first)
    git("push", "--quiet", "origin", "HEAD", cwd=first)
    pushed = jupyter_server.exec(["git", "--git-dir", remote, "log", "--format=%s"]).stdout
    assert pushed.strip() == "through the bridge"

    git("clone", "--quiet", url, "second")
    second = tmp_path / "second"
    assert (second / "data.bin").read_bytes() == bytes(range(256)) * 4096
    (first / "more.txt").write_text("more\n")
    git("add", "more.txt", cwd=first)
    git("commit", "--quiet", "-m", "second", cwd=first)
    git("push", "--quiet", "origin", "HEAD", cwd=first)
    git("fetch", "--quiet", "origin", cwd=second)
    assert git("log", "--format=%s", "FETCH_HEAD", cwd=second).split() == [
        "second",
        "through",
        "the",
        "bridge",
    ]
