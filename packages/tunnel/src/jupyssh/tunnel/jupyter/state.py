"""The record of an open ``tunnel jupyter``: what ``--stop`` needs to undo it.

One JSON file (0600) per (ssh config, alias) in ``<state>/tunnel/jupyter/``. It holds no
secret: the token stays with the browser and the remote server.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyssh.core.errors import ConfigError
from jupyssh.core.paths import ensure_private_dir, runtime_dir, state_dir

__all__ = ["JupyterTunnelState", "control_path_for", "open_page_for", "state_key", "state_path"]


def state_key(alias: str, config_file: str | None) -> str:
    """A short stable name for (config file, alias): names the state file and the socket."""
    where = str(Path(config_file).resolve()) if config_file else ""
    return hashlib.sha256(f"{where}\0{alias}".encode()).hexdigest()[:16]


def state_path(key: str) -> Path:
    return state_dir() / "tunnel" / "jupyter" / f"{key}.json"


def control_path_for(key: str) -> str:
    """The control socket of the tunnel's own master: never the user's shared one, so that
    ``--stop`` can end it without cutting the user's other sessions."""
    return str(ensure_private_dir(runtime_dir()) / f"tj-{key}")


def open_page_for(key: str) -> Path:
    """The redirect page the browser opens (it holds the token: 0600 in a 0700 folder,
    removed with the tunnel). Beside the control sockets: it lives no longer than they."""
    return runtime_dir() / f"tj-{key}-open.html"


@dataclass
class JupyterTunnelState:
    """An open tunnel: the forward, the master carrying it, and the server it launched."""

    alias: str
    config_file: str | None
    control_path: str
    local_host: str
    local_port: int
    remote: str
    base_url: str
    scheme: str
    server_pid: int
    #: set when jupyssh launched the server (``--launch``): ``--stop`` stops it
    launch_id: str | None = None

    @property
    def key(self) -> str:
        return state_key(self.alias, self.config_file)

    @property
    def url(self) -> str:
        """The local URL of the server, without its token."""
        return f"{self.scheme}://{self.local_host}:{self.local_port}{self.base_url}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["url"] = self.url
        data["launched"] = self.launch_id is not None
        return data

    def save(self) -> Path:
        """Write the record (0600, atomically)."""
        path = state_path(self.key)
        ensure_private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2, sort_keys=True)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, alias: str, config_file: str | None) -> JupyterTunnelState | None:
        """The record for ``alias``, or None when there is none."""
        path = state_path(state_key(alias, config_file))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"unreadable tunnel record: {exc}",
                where=str(path),
                hint="remove the file; the tunnel's ssh master may still run (`ssh -O exit`)",
            ) from None

    def delete(self) -> None:
        """Remove the record and the browser's redirect page."""
        state_path(self.key).unlink(missing_ok=True)
        open_page_for(self.key).unlink(missing_ok=True)
