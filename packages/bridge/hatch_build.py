"""Hatchling build hook: compile the Cython PTY reader, or build a pure wheel, loudly.

The compiled reader is an accelerator, never a requirement: when Cython or a C compiler
is missing (or ``JUPYSSH_NO_EXTENSIONS=1`` is set), the wheel is pure Python and the
agent uses ``_reader_py``. Cython and setuptools (only its ``build_ext`` driver) come in
through ``[build-system] requires``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE_DIR = Path("src") / "jupyssh" / "bridge"
SOURCE = PACKAGE_DIR / "_reader.pyx"


def _warn(reason: str) -> None:
    bar = "!" * 78
    print(
        f"\n{bar}\n!! jupyssh-bridge: building a PURE-PYTHON wheel: {reason}\n"
        "!! The bridge works, but its PTY reader is the slower pure-Python twin.\n"
        f"!! Install a C compiler and the Python headers to get the compiled reader.\n{bar}\n",
        file=sys.stderr,
        flush=True,
    )


def _compile(root: Path, build_dir: Path) -> Path:
    """Cythonize and compile ``_reader.pyx`` into ``build_dir``; return the module file."""
    from Cython.Build import cythonize  # noqa: PLC0415 - build requirements only
    from setuptools import Distribution, Extension  # noqa: PLC0415 - build requirements only
    from setuptools.command.build_ext import build_ext  # noqa: PLC0415 - build requirements only

    extension = Extension("jupyssh.bridge._reader", [str(root / SOURCE)])
    modules = cythonize(
        [extension],
        build_dir=str(build_dir / "c"),
        quiet=True,
        compiler_directives={"language_level": "3"},
    )
    distribution = Distribution({"name": "jupyssh-bridge", "ext_modules": modules})
    command = build_ext(distribution)
    command.build_lib = str(build_dir / "lib")
    command.build_temp = str(build_dir / "tmp")
    command.ensure_finalized()
    command.run()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = build_dir / "lib" / "jupyssh" / "bridge" / f"_reader{suffix}"
    if not built.is_file():
        raise RuntimeError(f"the compiler produced no {built.name}")
    return built


class ReaderBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled ``_reader`` module to wheels (and, for editable installs, next
    to its source), or warns and leaves the wheel pure."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("JUPYSSH_NO_EXTENSIONS") == "1":
            _warn("JUPYSSH_NO_EXTENSIONS=1 is set")
            return
        root = Path(self.root)
        build_dir = Path(tempfile.mkdtemp(prefix="jupyssh-bridge-build-"))
        try:
            built = _compile(root, build_dir)
            if version == "editable":
                # an editable install imports from src/: the module must sit there
                shutil.copy2(built, root / PACKAGE_DIR / built.name)
            else:
                target = f"jupyssh/bridge/{built.name}"
                kept = root / "build" / "ext" / built.name
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(built, kept)
                build_data["force_include"][str(kept)] = target
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means: fall back, loudly
            _warn(f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
