"""An async client of a Jupyter server: URLs and tokens, the REST API, kernel WebSockets.

Installed with the ``jupyter`` extra (``pip install 'jupyssh-core[jupyter]'``)::

    from jupyssh.core.jupyter import JupyterClient

    async with JupyterClient.from_url("http://127.0.0.1:8888/lab?token=…") as client:
        await client.save_file("data.bin", payload)
        async with client.kernel() as kernel:
            result = await kernel.execute("1 + 1")
            print(result.result)  # {'text/plain': '2'}

Modules: ``urls`` (URL parsing), ``auth`` (token, redaction), ``models`` (REST JSON),
``messages`` and ``framing`` (the messaging protocol and its WebSocket wire forms, pure),
``http`` (requests, typed errors, body encodings), ``contents`` (the Contents API and
ranged downloads), ``rest`` (``JupyterClient``: both, plus sessions, kernels and
terminals), ``upload`` (``ChunkedUpload``, the chunked-save rules),
``kernel`` (``KernelConnection``), ``comm`` (``Comm``).
"""

import importlib

from jupyssh.core.jupyter.auth import (
    DEFAULT_TOKEN_ENV,
    RedactingFilter,
    RedactingLogger,
    authorization_headers,
    redact,
    resolve_token,
)
from jupyssh.core.jupyter.framing import (
    V1_SUBPROTOCOL,
    decode_legacy,
    decode_v1,
    encode_legacy,
    encode_v1,
    pack_legacy_binary,
    pack_v1,
    unpack_legacy_binary,
    unpack_v1,
)
from jupyssh.core.jupyter.messages import Message, MessageHeader, new_message
from jupyssh.core.jupyter.models import (
    ContentsModel,
    KernelModel,
    KernelSpecsModel,
    ServerStatus,
    SessionModel,
    TerminalModel,
)
from jupyssh.core.jupyter.urls import ServerURL, parse_server_url, quote_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from jupyssh.core.jupyter.comm import Comm, CommOpenHandler, MessageHandler
    from jupyssh.core.jupyter.kernel import ExecuteResult, KernelConnection, WireProtocol
    from jupyssh.core.jupyter.rest import JupyterClient, error_for_response
    from jupyssh.core.jupyter.upload import DEFAULT_CHUNK_SIZE, ChunkedUpload

# The HTTP and WebSocket clients are imported when first used: a program that needs only
# the token and redaction helpers (`jupyssh tunnel ws-proxy`, ssh's ProxyCommand, at
# every login) does not pay for httpx (PEP 562).
_LAZY = {
    "Comm": "comm",
    "CommOpenHandler": "comm",
    "MessageHandler": "comm",
    "ExecuteResult": "kernel",
    "KernelConnection": "kernel",
    "WireProtocol": "kernel",
    "JupyterClient": "rest",
    "error_for_response": "rest",
    "DEFAULT_CHUNK_SIZE": "upload",
    "ChunkedUpload": "upload",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_TOKEN_ENV",
    "V1_SUBPROTOCOL",
    "ChunkedUpload",
    "Comm",
    "CommOpenHandler",
    "ContentsModel",
    "ExecuteResult",
    "JupyterClient",
    "KernelConnection",
    "KernelModel",
    "KernelSpecsModel",
    "Message",
    "MessageHandler",
    "MessageHeader",
    "RedactingFilter",
    "RedactingLogger",
    "ServerStatus",
    "ServerURL",
    "SessionModel",
    "TerminalModel",
    "WireProtocol",
    "authorization_headers",
    "decode_legacy",
    "decode_v1",
    "encode_legacy",
    "encode_v1",
    "error_for_response",
    "new_message",
    "pack_legacy_binary",
    "pack_v1",
    "parse_server_url",
    "quote_path",
    "redact",
    "resolve_token",
    "unpack_legacy_binary",
    "unpack_v1",
]
