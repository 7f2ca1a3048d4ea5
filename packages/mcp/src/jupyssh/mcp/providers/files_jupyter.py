"""Files on a Jupyter server the user listed: its Contents API, through
:class:`jupyssh.core.jupyter.JupyterClient`.

Paths are relative to the server's root (a leading ``/`` is that root); ``..`` out of it
is refused here before any request, and the server itself refuses links that leave it.
The token is read from the user's file or variable when the call opens the client, and
sent only in the Authorization header.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from jupyssh.core.errors import JupyterNotFoundError
from jupyssh.core.jupyter import ContentsModel, JupyterClient
from jupyssh.mcp.audit import remember_secret
from jupyssh.mcp.files import Entry, EntryType, bad_path, under_root
from jupyssh.mcp.settings import JupyterServerEntry

__all__ = ["ContentsStore", "open_contents"]

_ROOT = "/contents-root"


class ContentsStore:
    """One listed Jupyter server's files for one tool call."""

    def __init__(self, name: str, client: JupyterClient) -> None:
        self.where = f"jupyter:{name}"
        self._client = client

    async def resolve(self, path: str, *, for_write: bool = False) -> str:
        # A stand-in root: "/" itself would swallow a leading ".." (normpath("/..") is "/").
        relative = under_root(_ROOT, path.lstrip("/")).removeprefix(_ROOT).lstrip("/")
        if for_write:
            if not relative:
                raise bad_path(path, "a file path is needed, not the root")
            folder = relative.rpartition("/")[0]
            entry = await self.stat(folder)
            if entry is None or entry.type != "directory":
                raise bad_path(path, "the folder to write in is not a directory")
        return relative

    async def stat(self, path: str) -> Entry | None:
        try:
            model = await self._client.stat(path)
        except JupyterNotFoundError:
            return None
        return _entry(model)

    async def listdir(self, path: str) -> list[Entry]:
        return [_entry(model) for model in await self._client.list_dir(path)]

    async def read(self, path: str, offset: int, length: int) -> bytes:
        return await self._client.read_range(path, offset, length)

    async def write(self, path: str, data: bytes) -> None:
        await self._client.save_file(path, data)


@contextlib.asynccontextmanager
async def open_contents(server: JupyterServerEntry, timeout: float) -> AsyncIterator[ContentsStore]:
    """A client of ``server`` (its token read now) for one call; each request is bounded
    by ``timeout``."""
    token = server.token()
    remember_secret(token)  # masked in every result and log line, whatever its form
    client = JupyterClient(server.url, token=token, timeout=timeout, trust_env=False)
    async with client:
        yield ContentsStore(server.name, client)


def _entry(model: ContentsModel) -> Entry:
    kind: EntryType = "directory" if model["type"] == "directory" else "file"
    return Entry(
        name=model["name"],
        path=model["path"],
        type=kind,
        size=model.get("size") if kind == "file" else None,
        modified=model.get("last_modified"),
    )
