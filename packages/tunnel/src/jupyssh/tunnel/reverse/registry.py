"""The record of every reverse tunnel: ``<config>/tunnel/reverse/NAME.json``.

What ``list`` reads and what ``status``, ``logs`` and ``remove`` start from; written last
by ``add``, once the tunnel runs, and deleted last by ``remove``.
"""

from __future__ import annotations

import json
from pathlib import Path

from jupyssh.core.errors import ConfigError
from jupyssh.core.paths import config_dir, ensure_private_dir
from jupyssh.tunnel.errors import TunnelNotFoundError
from jupyssh.tunnel.reverse.spec import TunnelSpec

__all__ = ["delete_spec", "list_tunnels", "load_spec", "save_spec", "spec_exists"]


def _registry() -> Path:
    return config_dir() / "tunnel" / "reverse"


def _spec_path(name: str) -> Path:
    return _registry() / f"{name}.json"


def spec_exists(name: str) -> bool:
    return _spec_path(name).exists()


def save_spec(spec: TunnelSpec) -> None:
    path = _spec_path(spec.name)
    ensure_private_dir(path.parent)
    path.write_text(spec.to_json() + "\n", encoding="utf-8")


def delete_spec(name: str) -> None:
    _spec_path(name).unlink(missing_ok=True)


def load_spec(name: str) -> TunnelSpec:
    """The record of ``name``; ``TunnelNotFoundError`` when there is none."""
    path = _spec_path(name)
    try:
        return TunnelSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise TunnelNotFoundError(
            f"no reverse tunnel named {name!r}",
            hint="see them with: jupyssh tunnel reverse list",
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"unreadable tunnel record: {exc}", where=str(path)) from None


def list_tunnels() -> list[TunnelSpec]:
    """Every reverse tunnel recorded here, by name."""
    folder = _registry()
    if not folder.is_dir():
        return []
    return [load_spec(path.stem) for path in sorted(folder.glob("*.json"))]
