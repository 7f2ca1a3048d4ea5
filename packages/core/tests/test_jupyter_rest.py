"""jupyssh.core.jupyter.rest: JupyterClient against httpx.MockTransport (no network), and one
local HTTP server for connection reuse."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest

from jupyssh.core.errors import (
    ConfigError,
    JupyterAuthError,
    JupyterError,
    JupyterHTTPError,
    JupyterNotFoundError,
    OperationTimeout,
)
from jupyssh.core.jupyter.http import KEEPALIVE_EXPIRY
from jupyssh.core.jupyter.rest import JupyterClient, error_for_response
from jupyssh.core.jupyter.upload import DEFAULT_CHUNK_SIZE, ChunkedUpload
from jupyssh.core.testing import serve_http, url_of

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef"
BASE = "https://jupyter.test/user/ada/"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a routing function."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@contextlib.asynccontextmanager
async def client_for(
    answer: Handler, **kwargs: Any
) -> AsyncIterator[tuple[JupyterClient, Recorder]]:
    recorder = Recorder(answer)
    kwargs.setdefault("token", TOKEN)
    async with JupyterClient(BASE, transport=httpx.MockTransport(recorder), **kwargs) as client:
        yield client, recorder


def _model(path: str, **extra: Any) -> dict[str, Any]:
    model = {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "type": "file",
        "writable": True,
        "created": "2024-01-01T00:00:00Z",
        "last_modified": "2024-01-01T00:00:00Z",
        "size": 0,
        "mimetype": None,
        "content": None,
        "format": None,
    }
    model.update(extra)
    return model


# --- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, JupyterAuthError),
        (403, JupyterAuthError),
        (404, JupyterNotFoundError),
        (400, JupyterHTTPError),
        (409, JupyterHTTPError),
        (500, JupyterHTTPError),
        (503, JupyterHTTPError),
    ],
)
def test_error_for_response_classes(status: int, kind: type[JupyterHTTPError]) -> None:
    request = httpx.Request("GET", f"{BASE}api/contents/x")
    response = httpx.Response(
        status, json={"message": "the reason", "reason": None}, request=request
    )
    error = error_for_response(response, what="get 'x'")
    assert type(error) is kind
    assert error is not None
    assert error.status == status
    assert error.message == f"get 'x' failed: the reason (HTTP {status})"
    assert error.where == f"{BASE}api/contents/x"
    assert error.to_dict()["status"] == status


def test_error_for_response_success_and_reasons() -> None:
    request = httpx.Request("GET", f"{BASE}api/status?token={TOKEN}")
    assert error_for_response(httpx.Response(200, request=request), what="x") is None
    assert error_for_response(httpx.Response(204, request=request), what="x") is None
    plain = httpx.Response(
        404,
        text="file or directory 'x' does not exist",
        headers={"content-type": "text/plain"},
        request=request,
    )
    error = error_for_response(plain, what="get")
    assert error is not None
    assert "file or directory 'x' does not exist (HTTP 404)" in error.message
    assert error.where is not None
    assert TOKEN not in error.where
    html = httpx.Response(500, html="<html>\n<b>oops</b></html>", request=request)
    error = error_for_response(html, what="get")
    assert error is not None
    assert error.message == "get failed: Internal Server Error (HTTP 500)"
    assert error.hint == "see the Jupyter server's log"


def test_error_for_response_redirect() -> None:
    request = httpx.Request("GET", f"{BASE}api/status")
    response = httpx.Response(
        302, headers={"location": f"/hub/login?next=x&token={TOKEN}"}, request=request
    )
    error = error_for_response(response, what="status")
    assert type(error) is JupyterHTTPError
    assert error.hint is not None
    assert "/hub/login" in error.hint
    assert TOKEN not in str(error)


def test_error_for_response_without_request() -> None:
    error = error_for_response(httpx.Response(404), what="x")
    assert isinstance(error, JupyterNotFoundError)
    assert error.where is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, JupyterAuthError),
        (403, JupyterAuthError),
        (404, JupyterNotFoundError),
        (500, JupyterHTTPError),
    ],
)
async def test_client_maps_statuses(status: int, kind: type[Exception]) -> None:
    async with client_for(lambda r: httpx.Response(status, json={"message": "no"})) as (client, _):
        with pytest.raises(kind) as info:
            await client.status()
    assert TOKEN not in str(info.value)


@pytest.mark.asyncio
async def test_connect_error_names_the_url_and_what_to_try() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    async with client_for(refuse) as (client, _):
        with pytest.raises(JupyterError) as info:
            await client.status()
    error = info.value
    assert type(error) is JupyterError
    assert "cannot connect" in error.message
    assert error.where == f"{BASE}api/status"
    assert error.hint is not None
    assert "jupyter server list" in error.hint


@pytest.mark.asyncio
async def test_timeout_is_operation_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with client_for(slow, timeout=2.5) as (client, _):
        with pytest.raises(OperationTimeout, match=r"no answer within 2\.5 s"):
            await client.list_kernels()


@pytest.mark.asyncio
async def test_other_transport_errors() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed", request=request)

    async with client_for(broken) as (client, _):
        with pytest.raises(JupyterError, match="RemoteProtocolError: peer closed"):
            await client.list_sessions()


@pytest.mark.asyncio
async def test_non_json_answer() -> None:
    async with client_for(lambda r: httpx.Response(200, html="<html>login</html>")) as (client, _):
        with pytest.raises(JupyterError, match="not JSON") as info:
            await client.status()
    assert info.value.hint is not None
    assert "base URL" in info.value.hint


# --- token handling --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_token_travels_in_the_header_only(caplog: pytest.LogCaptureFixture) -> None:
    status = {"started": "s", "last_activity": "l", "connections": 0, "kernels": 1}
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(lambda r: httpx.Response(200, json=status))
    url = f"{BASE}lab?token={TOKEN}"
    async with JupyterClient(url, transport=httpx.MockTransport(recorder)) as client:
        assert await client.status() == status
        assert client.base_url == BASE
        assert TOKEN not in repr(client)
        assert repr(client) == f"JupyterClient(base_url='{BASE}', token=<redacted>)"
    (request,) = recorder.requests
    assert request.headers["authorization"] == f"token {TOKEN}"
    assert str(request.url) == f"{BASE}api/status"
    assert TOKEN not in caplog.text


@pytest.mark.asyncio
async def test_explicit_token_wins_and_none_sends_no_header() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json={}))
    async with JupyterClient(
        f"{BASE}?token=url-token", token="explicit", transport=httpx.MockTransport(recorder)
    ) as client:
        await client.status()
    async with JupyterClient(BASE, transport=httpx.MockTransport(recorder)) as client:
        await client.status()
        assert "token=None" in repr(client)
    assert recorder.requests[0].headers["authorization"] == "token explicit"
    assert "authorization" not in recorder.requests[1].headers


def test_from_url_resolves_the_token() -> None:
    client = JupyterClient.from_url(BASE, environ={"JUPYTER_TOKEN": TOKEN}, prompt=None)
    assert client._headers == {"Authorization": f"token {TOKEN}"}
    with pytest.raises(ConfigError, match="no Jupyter token"):
        JupyterClient.from_url(BASE, environ={}, prompt=None)


def test_clear_text_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jupyssh.core.jupyter.http"):
        JupyterClient("http://127.0.0.1:8888/", token=TOKEN)
        JupyterClient("http://[::1]:8888/", token=TOKEN)
        JupyterClient("https://remote.example/", token=TOKEN)
        assert caplog.records == []
        JupyterClient("http://remote.example/", token=TOKEN)
    assert "clear text" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.asyncio
async def test_cookies_are_not_kept() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"set-cookie": "username-x=signed; Path=/"})

    async with client_for(answer) as (client, recorder):
        await client.status()
        await client.status()
    assert "cookie" not in recorder.requests[1].headers


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        JupyterClient(BASE, chunk_size=0)
    with pytest.raises(ConfigError, match="control characters"):
        JupyterClient(BASE, token="bad token")


# --- contents --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stat_list_and_read() -> None:
    data = bytes(range(256))

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("type") == "directory":
            return httpx.Response(
                200, json=_model("d", type="directory", content=[_model("d/a b")])
            )
        if params.get("format") == "base64":
            return httpx.Response(
                200, json=_model("d/a b", format="base64", content=base64.b64encode(data).decode())
            )
        return httpx.Response(200, json=_model("d/a b", size=256))

    async with client_for(answer) as (client, recorder):
        assert (await client.stat("/d/a b"))["size"] == 256
        assert [m["path"] for m in await client.list_dir("d")] == ["d/a b"]
        assert await client.read_file("d/a b") == data
        await client.stat("d/a b", hash=True)
    urls = [str(r.url) for r in recorder.requests]
    assert urls == [
        f"{BASE}api/contents/d/a%20b?content=0",
        f"{BASE}api/contents/d?content=1&type=directory",
        f"{BASE}api/contents/d/a%20b?content=1&type=file&format=base64",
        f"{BASE}api/contents/d/a%20b?content=0&hash=1",
    ]


@pytest.mark.asyncio
async def test_read_file_refuses_a_text_answer() -> None:
    answer = _model("x", format="text", content="hello")
    async with client_for(lambda r: httpx.Response(200, json=answer)) as (client, _):
        with pytest.raises(JupyterError, match="base64"):
            await client.read_file("x")


@pytest.mark.asyncio
async def test_save_small_file_in_one_request() -> None:
    async with client_for(lambda r: httpx.Response(201, json=_model("x.bin", size=3))) as (
        client,
        recorder,
    ):
        model = await client.save_file("x.bin", b"\x00\x01\xff")
    assert model["size"] == 3
    (request,) = recorder.requests
    assert request.method == "PUT"
    assert str(request.url) == f"{BASE}api/contents/x.bin"
    assert json.loads(request.content) == {"type": "file", "format": "base64", "content": "AAH/"}


@pytest.mark.asyncio
async def test_large_json_body_goes_out_whole_with_its_length() -> None:
    """A chunk above the one-shot threshold (sent from a stream so that the request does
    not keep it alive) still goes out with its Content-Length, not chunked encoding."""
    data = bytes(range(256)) * 4096  # 1 MiB, 1.4 MB of base64
    seen: list[tuple[str | None, str | None, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = request.read()
        seen.append(
            (request.headers.get("content-length"), request.headers.get("transfer-encoding"), body)
        )
        return httpx.Response(200, json=_model("big", size=len(data)))

    transport = httpx.MockTransport(answer)
    async with JupyterClient(BASE, token=TOKEN, transport=transport) as client:
        await client.save_chunk("big", data, chunk=1)
    ((length, encoding, body),) = seen
    assert encoding is None
    assert length == str(len(body))
    assert base64.b64decode(json.loads(body)["content"]) == data
    assert json.loads(body)["chunk"] == 1


@pytest.mark.asyncio
async def test_save_empty_file() -> None:
    async with client_for(lambda r: httpx.Response(201, json=_model("e"))) as (client, recorder):
        await client.save_file("e", b"")
    assert recorder.bodies() == [{"type": "file", "format": "base64", "content": ""}]


@pytest.mark.asyncio
async def test_chunked_save_numbers_chunks_like_jupyterlab() -> None:
    data = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
    received = bytearray()

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["chunk"] == 1:
            received.clear()
        received.extend(base64.b64decode(body["content"]))
        return httpx.Response(200, json=_model("big", size=len(received)))

    async with client_for(answer, chunk_size=256) as (client, recorder):
        model = await client.save_file("big", data)
    assert model["size"] == len(data)
    assert bytes(received) == data
    assert [b["chunk"] for b in recorder.bodies()] == [1, 2, 3, 4, -1]
    assert all(b["type"] == "file" and b["format"] == "base64" for b in recorder.bodies())
    # every chunk is base64 of its own bytes, so the server can decode each alone
    assert [len(base64.b64decode(b["content"])) for b in recorder.bodies()] == [256] * 4 + [4]


@pytest.mark.asyncio
async def test_chunked_save_exact_multiple_and_per_call_size() -> None:
    async with client_for(lambda r: httpx.Response(200, json=_model("b", size=512))) as (
        client,
        recorder,
    ):
        await client.save_file("b", b"x" * 512, chunk_size=256)
    assert [b["chunk"] for b in recorder.bodies()] == [1, -1]


@pytest.mark.asyncio
async def test_chunked_save_detects_a_manager_without_chunks() -> None:
    # A contents manager that ignores "chunk" overwrites: only the last chunk is left.
    def answer(request: httpx.Request) -> httpx.Response:
        size = len(base64.b64decode(json.loads(request.content)["content"]))
        return httpx.Response(200, json=_model("b", size=size))

    async with client_for(answer, chunk_size=100) as (client, _):
        with pytest.raises(JupyterError, match="stored 50 of 250 bytes") as info:
            await client.save_file("b", b"y" * 250)
    assert info.value.hint is not None
    assert "LargeFileManager" in info.value.hint


@pytest.mark.asyncio
async def test_chunked_upload_numbers_pieces_when_sent_not_when_run() -> None:
    # the SFTP server starts a piece's coroutine before awaiting the one before it
    async with client_for(lambda r: httpx.Response(200, json=_model("p", size=3))) as (
        client,
        recorder,
    ):
        upload = ChunkedUpload(client, "p", chunk_size=1)
        first, second = upload.send(b"a"), upload.send(b"b")
        last = upload.send(b"c", last=True)
        assert upload.finished
        assert upload.size == 3
        await first
        await second
        await last
        with pytest.raises(ConfigError, match="already finished"):
            upload.send(b"d")
    assert [b["chunk"] for b in recorder.bodies()] == [1, 2, -1]


@pytest.mark.asyncio
async def test_chunked_upload_of_one_piece_is_a_plain_save() -> None:
    # chunk 1 alone would leave the file open to appends, -1 alone would append to it
    async with client_for(lambda r: httpx.Response(200, json=_model("p", size=0))) as (
        client,
        recorder,
    ):
        upload = ChunkedUpload(client, "p")
        assert upload.chunk_size == DEFAULT_CHUNK_SIZE
        assert not upload.started
        await upload.send(b"x" * 5, last=True)
        assert upload.started
    assert recorder.bodies()[0].get("chunk", "absent") == "absent"


@pytest.mark.asyncio
@pytest.mark.parametrize("chunk", [0, -2])
async def test_save_chunk_refuses_bad_numbers(chunk: int) -> None:
    async with client_for(lambda r: httpx.Response(200, json={})) as (client, recorder):
        with pytest.raises(ConfigError):
            await client.save_chunk("x", b"", chunk=chunk)
    assert recorder.requests == []


@pytest.mark.asyncio
async def test_text_notebook_mkdir_rename_delete() -> None:
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=_model("x"))

    async with client_for(answer) as (client, recorder):
        await client.save_text("t.txt", "héllo\n")
        await client.save_notebook("n.ipynb", notebook)
        await client.mkdir("new dir")
        await client.rename("a/b.txt", "/c//d.txt")
        await client.delete("a/b.txt")
    assert [(r.method, r.url.raw_path.decode()) for r in recorder.requests] == [
        ("PUT", "/user/ada/api/contents/t.txt"),
        ("PUT", "/user/ada/api/contents/n.ipynb"),
        ("PUT", "/user/ada/api/contents/new%20dir"),
        ("PATCH", "/user/ada/api/contents/a/b.txt"),
        ("DELETE", "/user/ada/api/contents/a/b.txt"),
    ]
    assert recorder.bodies() == [
        {"type": "file", "format": "text", "content": "héllo\n"},
        {"type": "notebook", "format": "json", "content": notebook},
        {"type": "directory"},
        {"path": "c/d.txt"},
        None,
    ]


@pytest.mark.asyncio
async def test_paths_are_checked_before_any_request() -> None:
    async with client_for(lambda r: httpx.Response(200, json={})) as (client, recorder):
        with pytest.raises(ConfigError):
            await client.read_file("../etc/passwd")
        with pytest.raises(ConfigError):
            await client.rename("a", "b/../../c")
        with pytest.raises(ConfigError):
            await client.get_kernel("../x")
        with pytest.raises(ConfigError):
            await client.delete_terminal("")
    assert recorder.requests == []


# --- ranged downloads ------------------------------------------------------------------------

DATA = bytes(range(256)) * 40  # 10240 bytes


def _ranged(*, honour: bool, whole_is_200: bool = True) -> Handler:
    """A /files/ handler like tornado's StaticFileHandler (or one that ignores Range)."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers["range"])
        assert match is not None
        first, last = int(match.group(1)), int(match.group(2))
        if not honour:
            return httpx.Response(200, content=DATA)
        if first >= len(DATA):
            return httpx.Response(416, headers={"content-range": f"bytes */{len(DATA)}"})
        end = min(last + 1, len(DATA))
        if whole_is_200 and first == 0 and end == len(DATA):
            return httpx.Response(200, content=DATA)
        return httpx.Response(
            206,
            content=DATA[first:end],
            headers={"content-range": f"bytes {first}-{end - 1}/{len(DATA)}"},
        )

    return answer


async def _collect(client: JupyterClient, **kwargs: Any) -> bytes:
    async with contextlib.aclosing(client.download("f/a b.bin", **kwargs)) as stream:
        return b"".join([piece async for piece in stream])


@pytest.mark.asyncio
@pytest.mark.parametrize("honour", [True, False])
@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (0, 10240),
        (0, 100),
        (1, 1),
        (1000, 5000),
        (10000, None),
        (10239, 10),
        (10240, 5),
        (20000, None),
        (5, 0),
    ],
)
async def test_download_ranges(honour: bool, offset: int, length: int | None) -> None:
    async with client_for(_ranged(honour=honour)) as (client, recorder):
        got = await _collect(client, offset=offset, length=length, request_size=3000)
    end = None if length is None else offset + length
    assert got == DATA[offset:end]
    assert all(r.url.raw_path == b"/user/ada/files/f/a%20b.bin" for r in recorder.requests)
    if honour and offset > 0 and offset < len(DATA) and length != 0:
        assert client.range_supported is True
    if not honour and offset > 0 and length != 0:
        assert client.range_supported is False
        assert len(recorder.requests) == 1  # the whole file came at once


@pytest.mark.asyncio
async def test_download_asks_in_windows() -> None:
    async with client_for(_ranged(honour=True, whole_is_200=False)) as (client, recorder):
        assert await _collect(client, request_size=4096) == DATA
    assert [r.headers["range"] for r in recorder.requests] == [
        "bytes=0-4095",
        "bytes=4096-8191",
        "bytes=8192-12287",
    ]


@pytest.mark.asyncio
async def test_read_range_and_unknown_total() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=DATA[10:20], headers={"content-range": "bytes 10-19/*"})

    async with client_for(answer) as (client, _):
        assert await client.read_range("x", 10, 10) == DATA[10:20]


@pytest.mark.asyncio
async def test_download_refuses_a_wrong_content_range() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=b"xx", headers={"content-range": "bytes 0-1/10"})

    async with client_for(answer) as (client, _):
        with pytest.raises(JupyterError, match="from 5, the server sent from 0"):
            await client.read_range("x", 5, 2)


@pytest.mark.asyncio
async def test_download_errors() -> None:
    async with client_for(lambda r: httpx.Response(404, text="nope")) as (client, _):
        with pytest.raises(JupyterNotFoundError):
            await client.read_range("missing", 0, 10)
    async with client_for(lambda r: httpx.Response(200)) as (client, _):
        with pytest.raises(ConfigError):
            await client.read_range("x", -1, 10)


# --- sessions, kernels, terminals ------------------------------------------------------------


@pytest.mark.asyncio
async def test_kernels_sessions_terminals_requests() -> None:
    kernel = {"id": "k1", "name": "python3"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" or request.url.path.endswith("/interrupt"):
            return httpx.Response(204)
        path = request.url.path
        if path.endswith("/api/kernelspecs"):
            return httpx.Response(200, json={"default": "python3", "kernelspecs": {}})
        if "/api/sessions" in path:
            session = {
                "id": "s1",
                "path": "n.ipynb",
                "name": "",
                "type": "notebook",
                "kernel": kernel,
            }
            return httpx.Response(
                200,
                json=[session]
                if request.method == "GET" and path.endswith("sessions")
                else session,
            )
        if "/api/terminals" in path:
            return httpx.Response(
                200, json=[{"name": "1"}] if request.method == "GET" else {"name": "1"}
            )
        if path.endswith("/api"):
            return httpx.Response(200, json={"version": "2.14.0"})
        return httpx.Response(
            200, json=[kernel] if path.endswith("kernels") and request.method == "GET" else kernel
        )

    async with client_for(answer) as (client, recorder):
        assert await client.version() == "2.14.0"
        assert (await client.kernelspecs())["default"] == "python3"
        assert await client.start_kernel("python3", path="d/n.ipynb") == kernel
        assert await client.list_kernels() == [kernel]
        assert (await client.get_kernel("k1"))["id"] == "k1"
        await client.interrupt_kernel("k1")
        await client.restart_kernel("k1")
        await client.delete_kernel("k1")
        assert (await client.create_session("n.ipynb", kernel_name="python3"))["id"] == "s1"
        assert len(await client.list_sessions()) == 1
        assert (await client.get_session("s1"))["kernel"] == kernel
        await client.delete_session("s1")
        assert (await client.create_terminal(cwd="work"))["name"] == "1"
        assert await client.list_terminals() == [{"name": "1"}]
        await client.delete_terminal("1")
    assert [(r.method, r.url.path.removeprefix("/user/ada")) for r in recorder.requests] == [
        ("GET", "/api"),
        ("GET", "/api/kernelspecs"),
        ("POST", "/api/kernels"),
        ("GET", "/api/kernels"),
        ("GET", "/api/kernels/k1"),
        ("POST", "/api/kernels/k1/interrupt"),
        ("POST", "/api/kernels/k1/restart"),
        ("DELETE", "/api/kernels/k1"),
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions"),
        ("GET", "/api/sessions/s1"),
        ("DELETE", "/api/sessions/s1"),
        ("POST", "/api/terminals"),
        ("GET", "/api/terminals"),
        ("DELETE", "/api/terminals/1"),
    ]
    bodies = recorder.bodies()
    assert bodies[2] == {"name": "python3", "path": "d/n.ipynb"}
    assert bodies[8] == {
        "path": "n.ipynb",
        "name": "",
        "type": "notebook",
        "kernel": {"name": "python3"},
    }
    assert bodies[12] == {"cwd": "work"}


@pytest.mark.asyncio
async def test_kernel_context_deletes_the_kernel_when_connecting_fails() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"id": "k9", "name": "python3"})
        return httpx.Response(204)

    async with client_for(answer) as (client, recorder):
        client.connect_kernel = _failing_connect  # type: ignore[method-assign]
        with pytest.raises(JupyterError, match="no WebSocket here"):
            async with client.kernel():
                pass
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("POST", "/user/ada/api/kernels"),
        ("DELETE", "/user/ada/api/kernels/k9"),
    ]


def _failing_connect(kernel_id: str, **kwargs: Any) -> Any:
    raise JupyterError("no WebSocket here")


def test_connect_kernel_builds_a_connection() -> None:
    client = JupyterClient(f"https://hub.test/user/ada/lab?token={TOKEN}", timeout=7)
    connection = client.connect_kernel("k1", protocol="legacy", session_id="s1")
    assert connection.where == "wss://hub.test/user/ada/api/kernels/k1/channels?session_id=s1"
    assert connection.open_timeout == 7
    assert connection.wanted_protocol == "legacy"
    assert TOKEN not in repr(connection)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """``GET /api`` over HTTP/1.1 keep-alive; notes the client port of each request."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        body = b'{"version": "2.21.1"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.asyncio
async def test_an_idle_connection_is_not_reused_past_the_keepalive_bound() -> None:
    """Node's HTTP servers (the hub's proxy) close idle connections after 5 s: past
    KEEPALIVE_EXPIRY a request must go out on a new one, never on one being closed."""
    assert KEEPALIVE_EXPIRY < 5.0
    _KeepAliveHandler.ports = []
    with serve_http(_KeepAliveHandler) as server:
        async with JupyterClient(url_of(server), token="t" * 32) as client:
            await client.version()
            await client.version()  # at once: the same connection
            await asyncio.sleep(KEEPALIVE_EXPIRY + 0.5)
            await client.version()  # after the bound: a new one
    first, again, later = _KeepAliveHandler.ports
    assert first == again
    assert later != first
