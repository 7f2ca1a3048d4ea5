"""The reader the agent uses: the compiled one when it was built and allowed, else the
pure-Python twin. ``__impl__`` says which (``"compiled"`` or ``"pure"``);
``JUPYSSH_NO_EXTENSIONS=1`` forces the pure one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ["Reader", "__impl__", "compiled_module_path"]

if TYPE_CHECKING or os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1":
    from jupyssh.bridge._reader_py import Reader
else:
    try:
        from jupyssh.bridge._reader import Reader
    except ImportError:
        from jupyssh.bridge._reader_py import Reader

__impl__: str = "compiled" if Reader.__module__.endswith("._reader") else "pure"


def compiled_module_path() -> str | None:
    """The file of the compiled reader if one was built for this interpreter, else
    ``None`` (the bridge ships it into matching kernels; called by the session)."""
    try:
        from jupyssh.bridge import _reader  # noqa: PLC0415
    except ImportError:
        return None
    path = getattr(_reader, "__file__", None)
    return str(path) if path else None
