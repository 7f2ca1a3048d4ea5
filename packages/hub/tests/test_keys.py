"""A user's keys, read from ``.ssh/authorized_keys`` in their own server."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import AuthorizedKey
from jupyssh.hub import AUTHORIZED_KEYS_PATH, user_keys
from jupyssh.hub.keys import MAX_AUTHORIZED_KEYS_BYTES

URL = "http://127.0.0.1:8000/user/alice/"


def _client(files: dict[str, bytes]) -> JupyterClient:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/user/alice/api/contents/")
        if path not in files:
            return httpx.Response(404, json={"message": "No such file"})
        model = {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(files[path]).decode(),
        }
        return httpx.Response(200, content=json.dumps(model).encode())

    return JupyterClient(URL, token="t" * 48, transport=httpx.MockTransport(answer))


def _keys(files: dict[str, bytes]) -> tuple[AuthorizedKey, ...]:
    async def read() -> tuple[AuthorizedKey, ...]:
        async with _client(files) as client:
            return await user_keys(client, "alice")

    return asyncio.run(read())


def _line() -> tuple[bytes, bytes]:
    """A fresh ed25519 public key line and its blob."""
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    message = paramiko.Message()
    message.add_string("ssh-ed25519")
    message.add_string(raw)
    blob = message.asbytes()
    return b"ssh-ed25519 " + base64.b64encode(blob) + b" alice@laptop\n", blob


def test_the_keys_in_the_users_server_are_read() -> None:
    line, blob = _line()

    keys = _keys({AUTHORIZED_KEYS_PATH: b"# mine\n" + line})

    assert [key.blob for key in keys] == [blob]


def test_no_file_is_no_key() -> None:
    assert _keys({}) == ()


def test_a_file_too_large_or_not_text_authorizes_nobody() -> None:
    line, _ = _line()
    assert _keys({AUTHORIZED_KEYS_PATH: line + b"#" * MAX_AUTHORIZED_KEYS_BYTES}) == ()
    assert _keys({AUTHORIZED_KEYS_PATH: line + b"\xff\xfe"}) == ()
