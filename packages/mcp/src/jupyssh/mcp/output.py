"""A command's output as a tool result: decoded, capped, the cut said out loud."""

from __future__ import annotations

from typing import Any

__all__ = ["capped"]


def capped(name: str, data: bytes, limit: int) -> dict[str, Any]:
    """``{name: text, name_bytes: size, name_truncated: bool}`` with at most ``limit``
    bytes of ``data`` (a partial UTF-8 character at the cut is replaced, not kept)."""
    truncated = len(data) > limit
    text = data[:limit].decode("utf-8", "replace")
    if truncated:
        text += f"\n[output truncated: {len(data) - limit} of {len(data)} bytes not shown]"
    return {name: text, f"{name}_bytes": len(data), f"{name}_truncated": truncated}
