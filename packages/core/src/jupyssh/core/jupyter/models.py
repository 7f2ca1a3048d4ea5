"""The JSON models of the Jupyter server REST API, as typed dicts.

They describe what jupyter_server answers (``services/*/handlers.py`` and its
``api.yaml``); ``JupyterClient`` returns them as decoded, unchanged. Keys a server may
leave out (older servers, other contents managers) are in the ``total=False`` halves.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "ContentsModel",
    "ContentsType",
    "KernelModel",
    "KernelSpecsModel",
    "ServerStatus",
    "SessionModel",
    "TerminalModel",
]

ContentsType = Literal["directory", "file", "notebook"]


class _ContentsRequired(TypedDict):
    name: str
    path: str
    type: ContentsType
    writable: bool
    created: str
    last_modified: str
    #: ``None`` for directories, and for files when asked without content by old servers.
    size: int | None
    mimetype: str | None
    #: ``None`` when fetched with ``content=0``.
    content: Any
    format: str | None


class ContentsModel(_ContentsRequired, total=False):
    """``GET/PUT/PATCH /api/contents/<path>``: a file, notebook or directory."""

    #: Only with ``hash=1`` on jupyter_server >= 2.11.
    hash: str | None
    hash_algorithm: str | None


class ServerStatus(TypedDict):
    """``GET /api/status``."""

    started: str
    last_activity: str
    connections: int
    kernels: int


class _KernelRequired(TypedDict):
    id: str
    name: str


class KernelModel(_KernelRequired, total=False):
    """``/api/kernels`` and a session's ``kernel``."""

    last_activity: str
    execution_state: str
    connections: int
    reason: str


class _SessionRequired(TypedDict):
    id: str
    path: str
    name: str
    type: str
    kernel: KernelModel


class SessionModel(_SessionRequired, total=False):
    """``/api/sessions``; ``notebook`` is the pre-jupyter_server spelling of ``path``."""

    notebook: dict[str, str]


class _TerminalRequired(TypedDict):
    name: str


class TerminalModel(_TerminalRequired, total=False):
    """``/api/terminals``."""

    last_activity: str


class KernelSpecsModel(TypedDict):
    """``GET /api/kernelspecs``: the default kernel's name and every spec by name."""

    default: str
    kernelspecs: dict[str, dict[str, Any]]
