"""The PTY and pipe reader, and the choice of the one each kernel runs.

In *this* process: the compiled reader when it was built and allowed, else the
pure-Python twin; ``__impl__`` says which (``"compiled"`` or ``"pure"``) and
``JUPYSSH_NO_EXTENSIONS=1`` forces the pure one. The bridge itself reads nothing: the
reader that matters runs in each kernel, loaded by the agent. Which one a kernel runs is
chosen by :func:`kernel_reader_choice` (``BridgeConfig.reader``) and reported by the agent
(``KernelSession.reader_impl``, logged when the kernel is ready).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from jupyssh.core.errors import ConfigError

__all__ = [
    "READER_CHOICES",
    "Reader",
    "ReaderChoice",
    "__impl__",
    "compiled_module_path",
    "extensions_disabled",
    "kernel_reader_choice",
]

#: The reader kernels run: ``auto`` (the compiled one where the kernel can load it, else
#: pure), ``compiled`` (a kernel that cannot load it fails its connection), ``pure``
#: (the compiled module is never sent, nor an installed one used).
ReaderChoice = Literal["auto", "compiled", "pure"]
READER_CHOICES: tuple[ReaderChoice, ...] = ("auto", "compiled", "pure")


def extensions_disabled() -> bool:
    """Whether ``JUPYSSH_NO_EXTENSIONS=1`` asks for pure Python everywhere."""
    return os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1"


if TYPE_CHECKING or extensions_disabled():
    from jupyssh.bridge._reader_py import Reader
else:
    try:
        from jupyssh.bridge._reader import Reader
    except ImportError:
        from jupyssh.bridge._reader_py import Reader

__impl__: str = "compiled" if Reader.__module__.endswith("._reader") else "pure"


def kernel_reader_choice(requested: ReaderChoice = "auto") -> ReaderChoice:
    """The reader kernels are to run: ``requested``, except that
    ``JUPYSSH_NO_EXTENSIONS=1`` in the bridge's environment means ``pure`` (and refuses
    an explicit ``compiled``)."""
    if requested not in READER_CHOICES:
        raise ConfigError(
            f"unknown reader {requested!r}", hint=f"use one of: {', '.join(READER_CHOICES)}"
        )
    if not extensions_disabled():
        return requested
    if requested == "compiled":
        raise ConfigError(
            "the compiled reader was asked for, but JUPYSSH_NO_EXTENSIONS=1 forbids it",
            hint="unset JUPYSSH_NO_EXTENSIONS, or use the pure or auto reader",
        )
    return "pure"


def compiled_module_path() -> str | None:
    """The file of the compiled reader if one was built for this interpreter and
    extensions are allowed, else ``None`` (the bridge ships it into matching kernels;
    called by the session)."""
    if extensions_disabled():
        return None
    try:
        from jupyssh.bridge import _reader  # noqa: PLC0415
    except ImportError:
        return None
    path = getattr(_reader, "__file__", None)
    return str(path) if path else None
