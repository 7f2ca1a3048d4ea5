"""ssh_config files for the containers: one dedicated alias per host, strict host keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HostEntry", "render_ssh_config", "write_ssh_config"]


@dataclass(frozen=True)
class HostEntry:
    """One ``Host`` block. Every entry pins its host key (``StrictHostKeyChecking yes`` with
    a dedicated known_hosts, no global one) and never prompts (``BatchMode yes``)."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_file: Path
    known_hosts: Path
    proxy_jump: str | None = None
    #: more options, written after the standard ones (e.g. ``{"ControlMaster": "auto"}``)
    options: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        options: dict[str, str] = {
            "HostName": self.hostname,
            "Port": str(self.port),
            "User": self.user,
            "IdentityFile": _quote(str(self.identity_file)),
            "IdentitiesOnly": "yes",
            "UserKnownHostsFile": _quote(str(self.known_hosts)),
            "GlobalKnownHostsFile": "/dev/null",
            "StrictHostKeyChecking": "yes",
            "BatchMode": "yes",
            "ConnectTimeout": "10",
        }
        if self.proxy_jump:
            options["ProxyJump"] = self.proxy_jump
        options.update(self.options)
        return [f"Host {self.alias}", *(f"    {key} {value}" for key, value in options.items())]


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) else value


def render_ssh_config(entries: Iterable[HostEntry]) -> str:
    """The text of an ssh_config file holding ``entries``."""
    blocks = ["\n".join(entry.lines()) for entry in entries]
    return "# Written by jupyssh_harness.\n\n" + "\n\n".join(blocks) + "\n"


def write_ssh_config(path: Path, entries: Iterable[HostEntry]) -> Path:
    """Write an ssh_config file (0600: ssh refuses group/world-writable ones)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_ssh_config(entries), encoding="utf-8")
    path.chmod(0o600)
    return path
