"""jupyssh.core.jupyter against a real ``jupyter server`` with ipykernel (the container fixture).

Proves what the unit tests can only model: the REST error statuses, the Contents API's
base64 and chunked saves byte for byte, Range on ``/files/``, and the kernel WebSocket in
both wire forms (the v1 subprotocol and the legacy JSON/binary form), comms with binary
buffers both ways, interrupts, and that the token shows up in no log line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from jupyssh.core.errors import JupyterAuthError, JupyterHTTPError, JupyterNotFoundError
from jupyssh.core.jupyter import JupyterClient, KernelConnection, Message

pytestmark = pytest.mark.integration

ALL_BYTES = bytes(range(256))

# Kernel-side comm target: echoes data and sends every buffer back reversed.
ECHO_TARGET = """
import comm as _comm

def _jupyssh_echo(c, open_msg):
    def _on_msg(msg):
        c.send(
            data={"echo": msg["content"]["data"]},
            buffers=[bytes(b)[::-1] for b in msg["buffers"]],
        )
    c.on_msg(_on_msg)
    c.send(data={"opened": open_msg["content"]["data"]},
           buffers=[bytes(b) for b in open_msg["buffers"]])

_comm.get_comm_manager().register_target("jupyssh-echo", _jupyssh_echo)
"""


@pytest_asyncio.fixture
async def client(jupyter_server: Any) -> AsyncIterator[JupyterClient]:
    async with JupyterClient(jupyter_server.url, token=jupyter_server.token) as jupyter:
        yield jupyter


@pytest_asyncio.fixture
async def workdir(client: JupyterClient) -> AsyncIterator[str]:
    """A fresh directory under the server's root, removed afterwards."""
    path = f"jupyssh-it-{uuid.uuid4().hex[:12]}"
    await client.mkdir(path)
    try:
        yield path
    finally:
        # JupyterHTTPError too: with delete_to_trash (the default) a volume without a
        # trash folder answers 400, which says nothing about the code under test.
        with contextlib.suppress(JupyterHTTPError):
            await client.delete(path)


# --- REST ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_status_answers(client: JupyterClient) -> None:
    status = await client.status()
    assert {"started", "last_activity", "connections", "kernels"} <= set(status)
    assert (await client.version()).split(".")[0].isdigit()
    assert "python3" in (await client.kernelspecs())["kernelspecs"]


@pytest.mark.asyncio
async def test_a_pasted_lab_url_works(jupyter_server: Any) -> None:
    async with JupyterClient(f"{jupyter_server.url}lab?token={jupyter_server.token}") as jupyter:
        assert jupyter.base_url == jupyter_server.url
        assert "kernels" in await jupyter.status()


@pytest.mark.asyncio
@pytest.mark.parametrize("token", ["wrong-token", None])
async def test_wrong_or_missing_token_is_an_auth_error(
    jupyter_server: Any, token: str | None
) -> None:
    async with JupyterClient(jupyter_server.url, token=token) as jupyter:
        with pytest.raises(JupyterAuthError) as info:
            await jupyter.status()
    assert info.value.status in {401, 403}
    assert jupyter_server.token not in str(info.value)


@pytest.mark.asyncio
async def test_wrong_token_on_the_kernel_websocket(
    jupyter_server: Any, client: JupyterClient
) -> None:
    kernel = await client.start_kernel()
    try:
        bad = KernelConnection(jupyter_server.url, kernel["id"], token="wrong-token")
        with pytest.raises(JupyterAuthError) as info:
            await bad.open()
        assert info.value.status in {401, 403}
    finally:
        await client.delete_kernel(kernel["id"])


@pytest.mark.asyncio
async def test_missing_things_are_not_found(client: JupyterClient, workdir: str) -> None:
    with pytest.raises(JupyterNotFoundError):
        await client.stat(f"{workdir}/nothing here")
    with pytest.raises(JupyterNotFoundError):
        await client.read_file(f"{workdir}/nothing here")
    with pytest.raises(JupyterNotFoundError):
        await client.get_kernel(str(uuid.uuid4()))


# --- contents --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_all_byte_values_round_trip(client: JupyterClient, workdir: str) -> None:
    path = f"{workdir}/all bytes é.bin"
    model = await client.save_file(path, ALL_BYTES)
    assert (model["type"], model["size"]) == ("file", 256)
    assert await client.read_file(path) == ALL_BYTES
    stat = await client.stat(path)
    assert stat["content"] is None
    assert stat["size"] == 256


@pytest.mark.asyncio
async def test_chunked_save_of_5_mib_is_byte_exact(client: JupyterClient, workdir: str) -> None:
    data = os.urandom(5 * 1024 * 1024 + 12345)
    path = f"{workdir}/random.bin"
    model = await client.save_file(path, data)  # 1 MiB chunks: 1, 2, 3, 4, 5, -1
    assert model["size"] == len(data)
    assert await client.read_file(path) == data
    stat = await client.stat(path, hash=True)
    if stat.get("hash_algorithm") == "sha256":  # jupyter_server >= 2.11
        assert stat.get("hash") == hashlib.sha256(data).hexdigest()
    # a shorter file saved over it replaces it (chunk 1 truncates)
    await client.save_file(path, data[:3000], chunk_size=1000)
    assert await client.read_file(path) == data[:3000]


@pytest.mark.asyncio
async def test_ranged_download(client: JupyterClient, workdir: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = f"{workdir}/ranged file.bin"
    await client.save_file(path, data)
    assert await client.read_range(path, 1000, 5000) == data[1000:6000]
    assert client.range_supported is True  # jupyter_server's /files/ honours Range
    assert await client.read_range(path, len(data) - 10, 100) == data[-10:]
    assert await client.read_range(path, len(data) + 10, 100) == b""
    async with contextlib.aclosing(client.download(path, request_size=1024 * 1024)) as stream:
        assert b"".join([piece async for piece in stream]) == data
    async with contextlib.aclosing(client.download(path, offset=12345)) as stream:
        assert b"".join([piece async for piece in stream]) == data[12345:]
    empty = f"{workdir}/empty"
    await client.save_file(empty, b"")
    assert await client.read_range(empty, 0, 10) == b""


@pytest.mark.asyncio
async def test_text_notebook_mkdir_rename_delete(client: JupyterClient, workdir: str) -> None:
    await client.save_text(f"{workdir}/t.txt", "héllo\n")
    assert await client.read_file(f"{workdir}/t.txt") == "héllo\n".encode()
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    saved = await client.save_notebook(f"{workdir}/n.ipynb", notebook)
    assert saved["type"] == "notebook"
    await client.mkdir(f"{workdir}/sub dir")
    renamed = await client.rename(f"{workdir}/t.txt", f"{workdir}/sub dir/u.txt")
    assert renamed["path"] == f"{workdir}/sub dir/u.txt"
    names = sorted(m["name"] for m in await client.list_dir(workdir))
    assert names == ["n.ipynb", "sub dir"]
    await client.save_file(f"{workdir}/other.txt", b"x")
    with pytest.raises(JupyterHTTPError) as info:
        await client.rename(f"{workdir}/other.txt", f"{workdir}/n.ipynb")
    assert info.value.status == 409
    await client.delete(f"{workdir}/sub dir/u.txt")
    with pytest.raises(JupyterNotFoundError):
        await client.stat(f"{workdir}/sub dir/u.txt")


# --- sessions and terminals ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sessions(client: JupyterClient, workdir: str) -> None:
    session = await client.create_session(f"{workdir}/s.ipynb", kernel_name="python3")
    try:
        assert (await client.get_session(session["id"]))["kernel"]["id"] == session["kernel"]["id"]
        assert session["id"] in {s["id"] for s in await client.list_sessions()}
    finally:
        await client.delete_session(session["id"])
    with pytest.raises(JupyterNotFoundError):
        await client.get_session(session["id"])


@pytest.mark.asyncio
async def test_terminals(client: JupyterClient) -> None:
    terminal = await client.create_terminal()
    try:
        assert terminal["name"] in {t["name"] for t in await client.list_terminals()}
    finally:
        await client.delete_terminal(terminal["name"])
    assert terminal["name"] not in {t["name"] for t in await client.list_terminals()}


# --- kernels over the WebSocket --------------------------------------------------------------

PROTOCOLS = [pytest.param("auto", "v1", id="v1"), pytest.param("legacy", "legacy", id="legacy")]


@pytest.mark.asyncio
@pytest.mark.parametrize(("wanted", "spoken"), PROTOCOLS)
async def test_execute_and_stream_output(client: JupyterClient, wanted: Any, spoken: str) -> None:
    streamed: list[str] = []

    def on_output(msg: Message) -> None:
        if msg.msg_type == "stream":
            streamed.append(msg.content["text"])

    async with client.kernel(protocol=wanted) as kernel:
        assert kernel.protocol == spoken
        assert kernel.kernel_info is not None
        assert kernel.kernel_info["language_info"]["name"] == "python"
        result = await kernel.execute("1+1", timeout=60)
        assert result.ok
        assert result.result == {"text/plain": "2"}
        result = await kernel.execute("print('hello', 'kernel')", on_output=on_output, timeout=60)
        assert "".join(streamed) == "hello kernel\n"
        assert result.stdout == "hello kernel\n"
        failed = await kernel.execute("1/0", timeout=60)
        assert not failed.ok
        assert failed.error is not None
        assert failed.error["ename"] == "ZeroDivisionError"
        kernel_id = kernel.kernel_id
    # the kernel is shut down when the block ends
    with pytest.raises(JupyterNotFoundError):
        await client.get_kernel(kernel_id)
    assert kernel_id not in {k["id"] for k in await client.list_kernels()}


@pytest.mark.asyncio
@pytest.mark.parametrize(("wanted", "spoken"), PROTOCOLS)
async def test_comm_round_trip_with_binary_buffers(
    client: JupyterClient, wanted: Any, spoken: str
) -> None:
    async with client.kernel(protocol=wanted) as kernel:
        assert kernel.protocol == spoken
        assert (await kernel.execute(ECHO_TARGET, timeout=60)).ok
        comm = await kernel.open_comm("jupyssh-echo", {"hello": 1}, buffers=[ALL_BYTES])
        opened = await comm.recv(timeout=30)
        assert opened.content["data"] == {"opened": {"hello": 1}}
        assert opened.buffers == [ALL_BYTES]
        big = os.urandom(1024 * 1024)
        await comm.send({"n": 2}, buffers=[b"\x00\x01\x02", big])
        echoed = await comm.recv(timeout=30)
        assert echoed.content["data"] == {"echo": {"n": 2}}
        assert echoed.buffers == [b"\x02\x01\x00", big[::-1]]
        await comm.close()
        refused = await kernel.open_comm("no-such-target")
        with pytest.raises(Exception, match="closed"):
            await refused.recv(timeout=30)
        assert refused.closed


@pytest.mark.asyncio
async def test_interrupt(client: JupyterClient) -> None:
    async with client.kernel() as kernel:
        running = asyncio.create_task(kernel.execute("import time; time.sleep(60)", timeout=60))
        for _ in range(100):  # wait for it to start running
            await asyncio.sleep(0.05)
            if kernel.execution_state == "busy":
                break
        await kernel.interrupt()
        result = await running
        assert result.error is not None
        assert result.error["ename"] == "KeyboardInterrupt"


@pytest.mark.asyncio
async def test_the_token_is_in_no_log_line(
    jupyter_server: Any, client: JupyterClient, workdir: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, websockets
    await client.status()
    await client.save_file(f"{workdir}/f", b"x" * 10)
    await client.read_range(f"{workdir}/f", 2, 3)
    async with client.kernel() as kernel:
        await kernel.execute("1+1", timeout=60)
    with pytest.raises(JupyterAuthError):
        async with JupyterClient(f"{jupyter_server.url}?token=wrong") as wrong:
            await wrong.status()
    assert "websockets.client" in {r.name for r in caplog.records}  # the handshake was logged
    text = caplog.text
    assert jupyter_server.token not in text
    assert base64.b64encode(jupyter_server.token.encode()).decode() not in text
