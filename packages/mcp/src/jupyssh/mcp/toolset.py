"""The plugin interface: how a jupyssh package adds its tools to the MCP server.

A package declares a provider under the entry-point group ``jupyssh.mcp.tools``
(``core = "jupyssh.mcp.providers.core:register"``); a provider is a function that takes a
:class:`ToolSet` and adds its tools with :meth:`ToolSet.add`. The tool set puts the
server's policy around every tool: the read-only refusal, the audit log line, typed
errors turned into one clear tool error, and every string of the result redacted.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import Any, Protocol, TypeVar

from jupyssh.core.errors import ConfigError, JupysshError
from jupyssh.mcp.audit import log_call, redact_value
from jupyssh.mcp.hosts import HostPool
from jupyssh.mcp.settings import Settings
from jupyssh.mcp.tasks import TaskManager
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations

__all__ = ["ENTRY_POINT_GROUP", "Provider", "Services", "ToolSet", "load_providers"]

ENTRY_POINT_GROUP = "jupyssh.mcp.tools"

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Services:
    """What tools share: the policy, the hosts behind the allowlist, the tasks, and what
    to close when the server stops (a provider adds its own: kernels to shut down)."""

    settings: Settings
    hosts: HostPool
    tasks: TaskManager
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class ToolSet:
    """The tools of one server; providers add theirs with :meth:`add`."""

    def __init__(self, server: MCPServer, services: Services) -> None:
        self.server = server
        self.services = services
        self.names: list[str] = []

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def add(self, fn: _F, *, read_only: bool, name: str | None = None) -> _F:
        """Add the async function ``fn`` as a tool (its docstring is the description, its
        typed parameters the arguments). ``read_only=False`` tools are refused in
        read-only mode."""
        tool = name or fn.__name__
        guarded = _guard(fn, tool, read_only=read_only, settings=self.settings)
        self.server.add_tool(
            guarded,
            name=tool,
            annotations=ToolAnnotations(read_only_hint=read_only, destructive_hint=not read_only),
        )
        self.names.append(tool)
        return fn


def _guard(fn: _F, tool: str, *, read_only: bool, settings: Settings) -> _F:
    @functools.wraps(fn)
    async def call(**arguments: Any) -> Any:
        if settings.read_only and not read_only:
            log_call(tool, arguments, "refused: read-only mode")
            raise ToolError(
                str(
                    ConfigError(
                        "refused: the server is in read-only mode",
                        where=tool,
                        hint="this tool can change things on the host; nothing was run",
                    )
                )
            )
        try:
            result = await fn(**arguments)
        except JupysshError as exc:
            message = redact_value(str(exc))
            log_call(tool, arguments, f"error {exc.kind}: {message}")
            raise ToolError(message) from None
        log_call(tool, arguments, "ok")
        return as_content(redact_value(result))

    return call  # type: ignore[return-value]


def as_content(result: Any) -> Any:
    """A result that holds images (a kernel's plots) also as MCP image content, so that
    an agent's client shows them as images; anything else as it is (the SDK makes its
    JSON text and structured content)."""
    images = list(_images(result))
    if not images or not isinstance(result, dict):
        return result
    text = TextContent(type="text", text=json.dumps(result))
    return CallToolResult(content=[text, *images], structured_content=result)


def _images(value: Any) -> Iterator[ImageContent]:
    if isinstance(value, dict):
        if value.get("type") == "image" and {"mime_type", "data"} <= value.keys():
            yield ImageContent(type="image", data=value["data"], mime_type=value["mime_type"])
        else:
            for item in value.values():
                yield from _images(item)
    elif isinstance(value, list):
        for item in value:
            yield from _images(item)


class Provider(Protocol):
    """An entry point's target: adds one package's tools."""

    def __call__(self, tools: ToolSet, /) -> None: ...


def load_providers(points: Iterable[EntryPoint] | None = None) -> dict[str, Provider]:
    """The providers of the installed packages, by entry-point name. A provider whose
    package is missing (its import fails for a jupyssh module) is skipped quietly; one
    that fails otherwise is skipped with a warning, so that one broken package does not
    take the other tools down."""
    found: dict[str, Provider] = {}
    for point in sorted(points or entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        if not _package_installed(point):
            log.debug("MCP tools %s skipped: jupyssh-%s is not installed", point.name, point.name)
            continue
        try:
            found[point.name] = point.load()
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("jupyssh."):
                log.debug("MCP tools %s skipped: %s is not installed", point.name, exc.name)
            else:
                log.warning("MCP tools %s skipped: %s", point.name, exc)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the others
            log.warning("MCP tools %s skipped: %s: %s", point.name, type(exc).__name__, exc)
    return found


def _package_installed(point: EntryPoint) -> bool:
    """jupyssh-mcp's own providers of another package's tools (``kernel``) load only
    when that package (``jupyssh-kernel``) is installed; other packages' entry points are
    theirs, so always."""
    if point.name == "core" or point.dist is None or point.dist.name != "jupyssh-mcp":
        return True
    try:
        distribution(f"jupyssh-{point.name}")
    except PackageNotFoundError:
        return False
    return True
