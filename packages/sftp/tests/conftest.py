"""A fake Jupyter Contents API (httpx.MockTransport) with jupyter_server's semantics where
jupyssh-sftp depends on them: chunk 1 truncates and every other chunk appends, rename
refuses an existing target (409), dotfiles are refused (404 on GET, 400 on PUT), and
``/files/`` honours Range (206, 416 past the end)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import paramiko
import pytest
from paramiko.common import AUTH_SUCCESSFUL, OPEN_SUCCEEDED

from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import load_or_create_host_key
from jupyssh.sftp import SFTPOptions, SFTPService, install
from jupyssh.sftp.interface import JupyterSFTPInterface

BASE = "https://jupyter.test/"
TOKEN = "t" * 48
KIB = 1024


class FakeContents:
    """Files and folders in memory, served the way jupyter_server serves them."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.dirs: set[str] = {""}
        self.requests: list[tuple[str, str, Any]] = []
        #: (method, path) -> status to answer instead, once
        self.fail_next: dict[tuple[str, str], int] = {}

    # --- helpers for tests ---------------------------------------------------------------

    def put_file(self, path: str, data: bytes) -> None:
        self.files[path] = bytearray(data)

    def names(self) -> list[str]:
        return sorted(self.files)

    def chunks_sent(self) -> list[int | None]:
        return [body.get("chunk") for method, _, body in self.requests if method == "PUT" and body]

    # --- the transport ---------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911 - a router
        url = urlsplit(str(request.url))
        raw = url.path
        body = json.loads(request.read()) if request.content else None
        if raw == "/api":
            return httpx.Response(200, json={"version": "2.99"})
        if raw.startswith("/files/"):
            return self._files(unquote(raw[len("/files/") :]), request)
        path = unquote(raw[len("/api/contents") :]).strip("/")
        self.requests.append((request.method, path, body))
        forced = self.fail_next.pop((request.method, path), None)
        if forced:
            return httpx.Response(forced, json={"message": f"forced {forced}"})
        hidden = any(s.startswith(".") for s in path.split("/"))
        if request.method == "GET":
            if hidden:
                return httpx.Response(404, json={"message": "not found"})
            return self._get(path, dict(httpx.QueryParams(url.query)))
        if hidden:
            return httpx.Response(
                400, json={"message": f"Cannot create file or directory {path!r}"}
            )
        if request.method == "PUT":
            return self._put(path, body)
        if request.method == "PATCH":
            return self._patch(path, body["path"])
        if request.method == "DELETE":
            return self._delete(path)
        return httpx.Response(405)

    def _model(self, path: str, *, content: bool = False, hash: bool = False) -> dict[str, Any]:
        name = path.rpartition("/")[2]
        if path in self.dirs:
            model: dict[str, Any] = {
                "name": name,
                "path": path,
                "type": "directory",
                "writable": True,
                "created": "2024-01-02T03:04:05.000000Z",
                "last_modified": "2024-01-02T03:04:05.000000Z",
                "size": None,
                "mimetype": None,
                "content": None,
                "format": None,
            }
            if content:
                prefix = f"{path}/" if path else ""
                children = [
                    p
                    for p in [*self.dirs, *self.files]
                    if p and p.startswith(prefix) and "/" not in p[len(prefix) :]
                ]
                model["content"] = [
                    self._model(c)
                    for c in sorted(children)
                    if not c.rpartition("/")[2].startswith(".")
                ]
                model["format"] = "json"
            return model
        data = self.files[path]
        model = {
            "name": name,
            "path": path,
            "type": "notebook" if path.endswith(".ipynb") else "file",
            "writable": True,
            "created": "2024-01-02T03:04:05Z",
            "last_modified": "2024-01-02T03:04:05Z",
            "size": len(data),
            "mimetype": None,
            "content": None,
            "format": None,
        }
        if hash:
            model["hash"] = hashlib.sha256(data).hexdigest()
            model["hash_algorithm"] = "sha256"
        return model

    def _get(self, path: str, query: dict[str, str]) -> httpx.Response:
        if path not in self.dirs and path not in self.files:
            return httpx.Response(404, json={"message": f"No such file or directory: {path}"})
        if query.get("type") == "directory" and path not in self.dirs:
            return httpx.Response(400, json={"message": f"{path} is not a directory"})
        content = query.get("content", "1") == "1"
        return httpx.Response(200, json=self._model(path, content=content, hash="hash" in query))

    def _parent_ok(self, path: str) -> bool:
        return path.rpartition("/")[0] in self.dirs

    def _put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if not self._parent_ok(path):
            return httpx.Response(500, json={"message": "No such file or directory"})
        if body["type"] == "directory":
            self.dirs.add(path)
            return httpx.Response(201, json=self._model(path))
        data = base64.b64decode(body["content"])
        chunk = body.get("chunk")
        if chunk is None or chunk == 1:
            self.files[path] = bytearray(data)
        else:
            self.files.setdefault(path, bytearray()).extend(data)
        return httpx.Response(200, json=self._model(path))

    def _patch(self, path: str, new: str) -> httpx.Response:
        if new in self.files or new in self.dirs:
            return httpx.Response(409, json={"message": f"File already exists: {new}"})
        if path in self.files:
            self.files[new] = self.files.pop(path)
        elif path in self.dirs:
            for old in [p for p in self.files if p.startswith(path + "/")]:
                self.files[new + old[len(path) :]] = self.files.pop(old)
            self.dirs = {
                new + d[len(path) :] if d == path or d.startswith(path + "/") else d
                for d in self.dirs
            }
        else:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(200, json=self._model(new))

    def _delete(self, path: str) -> httpx.Response:
        if path in self.files:
            del self.files[path]
        elif path in self.dirs:
            self.dirs.discard(path)
            for p in [p for p in self.files if p.startswith(path + "/")]:
                del self.files[p]
        else:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(204)

    def _files(self, path: str, request: httpx.Request) -> httpx.Response:
        self.requests.append(("FILES", path, request.headers.get("range")))
        if path not in self.files:
            return httpx.Response(404, json={"message": "not found"})
        data = self.files[path]  # a range copies only itself: memory tests measure the server
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("range", ""))
        if not match:
            return httpx.Response(200, content=bytes(data))
        first, last = int(match.group(1)), int(match.group(2))
        if first >= len(data):
            return httpx.Response(416)
        if first == 0 and last >= len(data) - 1:
            return httpx.Response(200, content=bytes(data))  # tornado: whole file, 200
        piece = bytes(data[first : last + 1])
        return httpx.Response(
            206,
            content=piece,
            headers={"Content-Range": f"bytes {first}-{first + len(piece) - 1}/{len(data)}"},
        )


@pytest.fixture
def fake() -> FakeContents:
    return FakeContents()


@pytest.fixture
def service(fake: FakeContents) -> Iterator[SFTPService]:
    client = JupyterClient(BASE, token=TOKEN, transport=httpx.MockTransport(fake))
    options = SFTPOptions(chunk_size=64 * KIB, read_block=64 * KIB, read_ahead=2)
    with SFTPService(client, options) as service:
        yield service


@pytest.fixture
def sftp(service: SFTPService) -> Iterator[JupyterSFTPInterface]:
    """One session's interface (paramiko's server object is unused by it)."""
    interface = JupyterSFTPInterface(None, service)  # type: ignore[arg-type]
    interface.session_started()
    yield interface
    interface.session_ended()


class OpenPolicy(paramiko.ServerInterface):
    """Test only: anyone, sessions, the sftp subsystem."""

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


@contextlib.contextmanager
def loopback(service: SFTPService, host_key: Path) -> Iterator[paramiko.SFTPClient]:
    """An SFTP client talking to ``service`` over a paramiko socket pair (no network)."""
    server_sock, client_sock = socket.socketpair()
    server = paramiko.Transport(server_sock)
    server.add_server_key(load_or_create_host_key(host_key))
    install(server, service)
    server.start_server(event=threading.Event(), server=OpenPolicy())  # returns at once
    transport = paramiko.Transport(client_sock)
    try:
        transport.connect()
        transport.auth_none("tester")
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        yield sftp
        sftp.close()
    finally:
        transport.close()
        server.close()
        server.join(5)
        transport.join(5)
        server_sock.close()
        client_sock.close()


@pytest.fixture
def client(service: SFTPService, tmp_path: Path) -> Iterator[paramiko.SFTPClient]:
    with loopback(service, tmp_path / "host_key") as sftp:
        yield sftp
