"""The files tools: read, write, list and stat on an allowed ssh alias (SFTP through its
control master) or on a Jupyter server the user listed (its Contents API).

Loaded through the ``sftp`` entry point, so with jupyssh-sftp, which brings what both
places need (paramiko's SFTP, the Jupyter client). The policy (root, caps, base64, the
refusals) is :class:`jupyssh.mcp.files.Files`, the same for both places.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from jupyssh.core.errors import ConfigError
from jupyssh.mcp.files import Files, FileStore
from jupyssh.mcp.providers.files_jupyter import open_contents
from jupyssh.mcp.providers.files_sftp import open_sftp
from jupyssh.mcp.toolset import Services, ToolSet

__all__ = ["register"]

#: Longest a files call may take (a read is capped, a write bounded by max_write_bytes).
MAX_TIMEOUT = 600.0


def register(tools: ToolSet) -> None:
    """Add the files tools."""
    files = _FileTools(tools.services)
    tools.add(files.files_read, read_only=True)
    tools.add(files.files_list, read_only=True)
    tools.add(files.files_stat, read_only=True)
    tools.add(files.files_write, read_only=False)


class _FileTools:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.files = Files(settings.max_output_bytes, settings.max_write_bytes)

    @contextlib.asynccontextmanager
    async def _store(
        self, alias: str | None, server: str | None, timeout: float
    ) -> AsyncIterator[FileStore]:
        """The place a call names: exactly one of an allowed alias or a listed server."""
        if (alias is None) == (server is None):
            raise ConfigError(
                "name exactly one place: alias (an ssh alias) or server (a Jupyter server)"
            )
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ConfigError(f"timeout must be between 0 and {MAX_TIMEOUT:g} seconds")
        settings = self.services.settings
        if alias is not None:
            host = self.services.hosts.get(alias)
            async with open_sftp(host, alias, settings.roots.get(alias), timeout) as store:
                yield store
        else:
            assert server is not None  # noqa: S101 - one of the two, checked above
            async with open_contents(settings.jupyter_server(server), timeout) as contents:
                yield contents

    async def files_read(
        self,
        path: str,
        *,
        alias: str | None = None,
        server: str | None = None,
        offset: int = 0,
        max_bytes: int | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Read a file on an allowed ssh alias (SFTP through its master; paths relative
        to its root, the login's home unless the settings say) or on a Jupyter server
        listed in the settings (`server`; paths relative to the server's root). Text comes
        as UTF-8, anything else as base64 (`encoding` says which). At most
        max_output_bytes a call from `offset`: `truncated` and `next_offset` say where the
        cut is, to read on."""
        async with self._store(alias, server, timeout) as store:
            return await self.files.read(store, path, offset, max_bytes)

    async def files_write(
        self,
        path: str,
        content: str,
        *,
        alias: str | None = None,
        server: str | None = None,
        encoding: str = "utf-8",
        overwrite: bool = False,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Write a file on an allowed ssh alias or a listed Jupyter server (see
        files_read for the places). `content` is text, or base64 with
        encoding="base64". An existing file is replaced only with overwrite=true (over
        SFTP atomically: written beside it, then renamed). Refused, nothing written: a
        path outside the root, a directory in the way, content over max_write_bytes."""
        async with self._store(alias, server, timeout) as store:
            return await self.files.write(store, path, content, encoding, overwrite)

    async def files_list(
        self,
        path: str = "",
        *,
        alias: str | None = None,
        server: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """List a directory (default: the root) on an allowed ssh alias or a listed
        Jupyter server: each entry's name, type, size, mode and modification time."""
        async with self._store(alias, server, timeout) as store:
            return await self.files.list(store, path)

    async def files_stat(
        self,
        path: str,
        *,
        alias: str | None = None,
        server: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """A file's or directory's type, size, mode and modification time on an allowed
        ssh alias or a listed Jupyter server (a missing path is an error)."""
        async with self._store(alias, server, timeout) as store:
            return await self.files.stat(store, path)
