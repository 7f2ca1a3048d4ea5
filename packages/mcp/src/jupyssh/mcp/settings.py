"""What the MCP server may reach: the allowlist of ssh aliases, read-only mode, limits.

The settings live in a file of the user's (``mcp.json`` in jupyssh's config folder, or
``--config FILE``), never in the agent's hands: an agent can only use what the user listed.
A missing file means an empty allowlist, so nothing is reachable until the user says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyssh.core.errors import ConfigError
from jupyssh.core.paths import config_dir, state_dir

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_MAX_WRITE",
    "JupyterServerEntry",
    "Settings",
    "default_config_file",
    "load_settings",
]

#: Bytes of each of stdout and stderr a command's result (or a file read) carries before
#: it is cut.
DEFAULT_MAX_OUTPUT = 64 * 1024
#: Largest file a files_write call may write.
DEFAULT_MAX_WRITE = 16 * 1024 * 1024
_KEYS = {
    "allow",
    "read_only",
    "ssh_config",
    "max_output_bytes",
    "max_write_bytes",
    "audit_log",
    "roots",
    "jupyter_servers",
}
_SERVER_KEYS = {"url", "token_file", "token_env"}


@dataclass(frozen=True)
class JupyterServerEntry:
    """A Jupyter server the files tools may reach, by the name the user gave it. Its
    token is read when used, from a file of the user's or an environment variable: never
    from the settings' JSON, never from the agent."""

    name: str
    url: str
    token_file: str | None = None
    token_env: str | None = None

    def token(self) -> str | None:
        """The server's token (None: the URL carries none and none was configured)."""
        if self.token_file:
            try:
                return Path(self.token_file).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the token file: {exc.strerror}", where=self.name
                ) from None
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise ConfigError(
                    f"the environment variable {self.token_env} holding the token is not set",
                    where=self.name,
                )
            return value
        return None


def default_config_file() -> Path:
    """``mcp.json`` in jupyssh's config folder (``$JUPYSSH_HOME/config`` when set)."""
    return config_dir() / "mcp.json"


@dataclass(frozen=True)
class Settings:
    """The server's policy. ``allow`` lists the ssh aliases the tools may reach."""

    allow: frozenset[str] = frozenset()
    read_only: bool = False
    #: An ssh config file used instead of ``~/.ssh/config`` (``ssh -F``).
    ssh_config: str | None = None
    max_output_bytes: int = DEFAULT_MAX_OUTPUT
    max_write_bytes: int = DEFAULT_MAX_WRITE
    #: The folder the files tools may reach on an alias (default: the login's home).
    roots: Mapping[str, str] = field(default_factory=dict)
    #: The Jupyter servers the files tools may reach, by name.
    jupyter_servers: Mapping[str, JupyterServerEntry] = field(default_factory=dict)
    #: Where every tool call is logged; ``state_dir()/mcp-audit.log`` by default.
    audit_log: Path = field(default_factory=lambda: state_dir() / "mcp-audit.log")
    #: The file these settings came from, for the hints of refusals.
    source: str = "(defaults)"

    def allowed(self, alias: str) -> bool:
        return alias in self.allow

    def check_alias(self, alias: str) -> None:
        """Refuse an alias the user has not listed: nothing is reachable unless listed."""
        if not self.allowed(alias):
            raise ConfigError(
                "this ssh alias is not on the MCP allowlist",
                where=alias,
                hint=f'add it to "allow" in {self.source} and restart the server',
            )

    def jupyter_server(self, name: str) -> JupyterServerEntry:
        """The Jupyter server the user listed as ``name``; refuses any other."""
        try:
            return self.jupyter_servers[name]
        except KeyError:
            raise ConfigError(
                "this Jupyter server is not in the MCP settings",
                where=name,
                hint=f'add it to "jupyter_servers" in {self.source} and restart the server',
            ) from None

    def with_read_only(self, read_only: bool) -> Settings:
        return replace(self, read_only=self.read_only or read_only)


def load_settings(path: Path | None = None) -> Settings:
    """The settings in ``path`` (default :func:`default_config_file`); defaults, with an
    empty allowlist, when the default file does not exist. A file named explicitly must
    exist."""
    explicit = path is not None
    path = path or default_config_file()
    if not path.is_file():
        if explicit:
            raise ConfigError("MCP config file not found", where=str(path))
        return Settings(source=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the MCP config: {exc}", where=str(path)) from exc
    return _parse(data, str(path))


def _parse(data: Any, source: str) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError("the MCP config must be a JSON object", where=source)
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(unknown))}",
            where=source,
            hint=f"known keys: {', '.join(sorted(_KEYS))}",
        )
    allow = data.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow):
        raise ConfigError('"allow" must be a list of ssh aliases', where=source)
    read_only = data.get("read_only", False)
    max_output = data.get("max_output_bytes", DEFAULT_MAX_OUTPUT)
    max_write = data.get("max_write_bytes", DEFAULT_MAX_WRITE)
    ssh_config = data.get("ssh_config")
    audit_log = data.get("audit_log")
    if not isinstance(read_only, bool):
        raise ConfigError('"read_only" must be true or false', where=source)
    if not isinstance(max_output, int) or isinstance(max_output, bool) or max_output < 1:
        raise ConfigError('"max_output_bytes" must be a positive integer', where=source)
    if not isinstance(max_write, int) or isinstance(max_write, bool) or max_write < 1:
        raise ConfigError('"max_write_bytes" must be a positive integer', where=source)
    for key, value in (("ssh_config", ssh_config), ("audit_log", audit_log)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f'"{key}" must be a path', where=source)
    settings = Settings(
        allow=frozenset(allow),
        read_only=read_only,
        ssh_config=str(Path(ssh_config).expanduser()) if ssh_config else None,
        max_output_bytes=max_output,
        max_write_bytes=max_write,
        roots=_roots(data.get("roots", {}), source),
        jupyter_servers=_servers(data.get("jupyter_servers", {}), source),
        source=source,
    )
    if audit_log:
        settings = replace(settings, audit_log=Path(audit_log).expanduser())
    return settings


def _roots(data: Any, source: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.startswith("/") for k, v in data.items()
    ):
        raise ConfigError('"roots" must map ssh aliases to absolute folders on them', where=source)
    return dict(data)


def _servers(data: Any, source: str) -> dict[str, JupyterServerEntry]:
    if not isinstance(data, dict):
        raise ConfigError('"jupyter_servers" must map names to servers', where=source)
    servers = {}
    for name, entry in data.items():
        where = f"{source}: jupyter_servers.{name}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError('a Jupyter server needs a "url"', where=where)
        unknown = set(entry) - _SERVER_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(unknown))}",
                where=where,
                hint='give the token as "token_file" or "token_env", never inline',
            )
        if "token=" in entry["url"]:
            raise ConfigError(
                "the URL holds a token", where=where, hint='give it as "token_file" or "token_env"'
            )
        for key in ("token_file", "token_env"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f'"{key}" must be a string', where=where)
        token_file = entry.get("token_file")
        servers[name] = JupyterServerEntry(
            name=name,
            url=entry["url"],
            token_file=str(Path(token_file).expanduser()) if token_file else None,
            token_env=entry.get("token_env"),
        )
    return servers
