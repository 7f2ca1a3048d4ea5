"""npm packages for the containers, installed on the host.

Like Python packages (see :mod:`.wheelhouse`), npm packages cannot be fetched from inside a
build on the machines this project targets, so the harness runs ``npm install --prefix DIR
<spec>...`` on the host, for the specs in an image's ``npm-packages.txt``, and puts ``DIR``
(``node_modules/`` and the lock file) into the build context as ``node/``.

The trees are cached in ``<cache>/node/<key>``, ``key`` hashing the spec lines; an image's
content hash takes in every file of the tree (:meth:`NodePackages.digest_items`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._common import COMPLETE_MARKER, HarnessError, cache_dir, log, make_once, sha256_file

__all__ = ["NODE_PACKAGES_FILE", "NodePackages", "ensure_node_packages"]

#: The file of ``containers/<name>/`` listing the npm specs an image needs.
NODE_PACKAGES_FILE = "npm-packages.txt"

_FORMAT = 1  # bump to invalidate every cached tree
_NPM_TIMEOUT_S = 600


@dataclass(frozen=True)
class NodePackages:
    """A finished ``npm install --prefix`` tree."""

    path: Path
    specs: tuple[str, ...]

    def files(self) -> list[Path]:
        """Every file of the tree but the harness's marker, sorted."""
        return sorted(
            path
            for path in self.path.rglob("*")
            if (path.is_file() or path.is_symlink()) and path.name != COMPLETE_MARKER
        )

    def digest_items(self) -> list[tuple[str, str]]:
        """``(relative path, sha256)`` of every file (a symlink: its target)."""
        items = []
        for path in self.files():
            name = path.relative_to(self.path).as_posix()
            value = f"-> {path.readlink()}" if path.is_symlink() else sha256_file(path)
            items.append((name, value))
        return items


def _key(specs: Sequence[str]) -> str:
    material = {"format": _FORMAT, "specs": list(specs)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _npm_install(prefix: Path, specs: Sequence[str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise HarnessError("npm is not on PATH (install Debian's npm: apt-get install npm)")
    argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", *specs]
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"npm install took more than {_NPM_TIMEOUT_S}s") from exc
    if result.returncode != 0:
        raise HarnessError("npm install failed:\n" + (result.stdout + result.stderr)[-3000:])


def ensure_node_packages(specs: Sequence[str]) -> NodePackages:
    """A tree holding the npm packages ``specs`` and their dependencies, made once per
    distinct list of specs and cached."""
    path = cache_dir() / "node" / _key(specs)
    tree = NodePackages(path=path, specs=tuple(specs))

    def fill(scratch: Path) -> str:
        log(f"npm install {' '.join(specs)} -> {path.name}")
        _npm_install(scratch, specs)
        return json.dumps({"specs": list(specs)})

    if not make_once(path, fill):
        return tree
    log(f"node packages {path.name}: {len(tree.files())} files")
    return tree
