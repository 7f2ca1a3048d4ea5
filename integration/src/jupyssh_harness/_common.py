"""Paths, progress output and errors shared by the harness modules."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "COMPLETE_MARKER",
    "HarnessError",
    "cache_dir",
    "containers_dir",
    "log",
    "make_once",
    "repo_root",
    "sha256_file",
]


class HarnessError(RuntimeError):
    """The harness could not provide what was asked (engine, image, container...)."""


def log(message: str) -> None:
    """Print one progress line to stderr (the harness's only output channel)."""
    print(f"harness: {message}", file=sys.stderr, flush=True)


def _is_root(path: Path) -> bool:
    return (path / "containers" / "openssh" / "Dockerfile").is_file() and (
        path / "pyproject.toml"
    ).is_file()


def repo_root() -> Path:
    """The jupyssh checkout: ``$JUPYSSH_ROOT``, else the first parent of this file or of the
    working directory that holds ``containers/openssh/Dockerfile``."""
    env = os.environ.get("JUPYSSH_ROOT")
    if env:
        root = Path(env).resolve()
        if not _is_root(root):
            raise HarnessError(f"JUPYSSH_ROOT={env} holds no containers/openssh/Dockerfile")
        return root
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if _is_root(candidate):
                return candidate
    raise HarnessError(
        "cannot find the jupyssh checkout (containers/openssh/Dockerfile); "
        "install the harness editable (pip install -e integration) or set JUPYSSH_ROOT"
    )


def containers_dir() -> Path:
    """``<repo>/containers``: the Dockerfiles and the engine/base-image scripts."""
    return repo_root() / "containers"


def cache_dir() -> Path:
    """``$JUPYSSH_CACHE_DIR``, else ``<repo>/.cache`` (git-ignored)."""
    env = os.environ.get("JUPYSSH_CACHE_DIR")
    path = Path(env) if env else repo_root() / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: The file that marks a cached folder finished (see :func:`make_once`).
COMPLETE_MARKER = ".complete"


def make_once(path: Path, fill: Callable[[Path], str]) -> bool:
    """Make the cached folder ``path`` unless it is finished: ``fill`` fills a scratch folder
    next to it and returns the marker's text; the scratch folder then becomes ``path`` (a
    concurrent run that finished first wins; theirs is as good as ours). Returns whether
    this call made it. Nothing half-made is left on any path."""
    if (path / COMPLETE_MARKER).is_file():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        (scratch / COMPLETE_MARKER).write_text(fill(scratch), encoding="utf-8")
        if path.exists():
            shutil.rmtree(scratch)
        else:
            scratch.rename(path)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return True
