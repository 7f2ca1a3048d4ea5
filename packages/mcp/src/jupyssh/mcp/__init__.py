"""jupyssh-mcp: the jupyssh toolkit as Model Context Protocol tools for agents.

``jupyssh mcp serve`` serves, over stdio, the tools of every installed jupyssh package
(entry-point group ``jupyssh.mcp.tools``): with jupyssh-core, the ssh hosts and
commands. Only the aliases on the user's allowlist are reachable, read-only mode refuses
every tool that can change a host, every call is logged, and long work runs as a task.
"""

from jupyssh.mcp._version import __version__
from jupyssh.mcp.server import build_server, serving
from jupyssh.mcp.settings import Settings, load_settings
from jupyssh.mcp.toolset import ENTRY_POINT_GROUP, Services, ToolSet, load_providers

__all__ = [
    "ENTRY_POINT_GROUP",
    "Services",
    "Settings",
    "ToolSet",
    "__version__",
    "build_server",
    "load_providers",
    "load_settings",
    "serving",
]
