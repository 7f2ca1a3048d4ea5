"""Wheelhouses for the containers' Python, made on the host.

``pip`` inside the containers cannot verify the package index's certificate on the machines
this project targets, so images install from a wheelhouse with ``--no-index --find-links``.
The wheelhouse is made for the *containers'* interpreter (Debian bookworm: CPython 3.11,
glibc 2.36), whatever Python runs the harness:

1. ``pip download --only-binary=:all: --python-version 3.11 --abi cp311
   --platform manylinux_2_36_<arch>`` (pip also accepts every older manylinux tag);
2. if that fails (a dependency ships only an sdist): ``pip wheel`` on the host, keep the
   wheels that fit the target (pure-Python ones, or all of them when the host is the same
   CPython), and run step 1 again with those as ``--find-links``.

Wheelhouses are cached in ``<cache>/wheelhouse/<key>``, ``key`` hashing the requirement
lines, the target, and the bytes of any extra wheels (the project's own freshly built ones).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from ._common import HarnessError, cache_dir, log, make_once, sha256_file

__all__ = [
    "TARGET_GLIBC",
    "TARGET_PYTHON",
    "Wheelhouse",
    "ensure_wheelhouse",
    "extra_wheels_from_env",
    "read_requirements",
]

#: Debian bookworm's python3 and glibc: what the images run.
TARGET_PYTHON = "3.11"
TARGET_GLIBC = "2.36"

_FORMAT = 1  # bump to invalidate every cached wheelhouse
_PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Wheelhouse:
    """A finished wheelhouse directory."""

    path: Path
    #: requirement lines from the image's requirements.txt
    requirements: tuple[str, ...]
    #: file names of the extra wheels in it
    extra_wheels: tuple[str, ...]

    def files(self) -> list[Path]:
        """The wheels, sorted by name."""
        return sorted(self.path.glob("*.whl"))

    def digest_items(self) -> list[tuple[str, str]]:
        """``(file name, sha256)`` of every wheel: what an image's content hash takes in."""
        return [(wheel.name, sha256_file(wheel)) for wheel in self.files()]

    def install_requirements(self, mount: str = "/tmp/wheels") -> str:
        """A requirements file for ``pip install --no-index --find-links <mount>`` inside the
        image: the spec's lines, then the extra wheels by path (exact files, not names)."""
        lines = [*self.requirements, *(f"{mount}/{name}" for name in self.extra_wheels)]
        return "\n".join(lines) + "\n"


def read_requirements(path: Path) -> list[str]:
    """Requirement lines of a requirements file, without comments and blank lines."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def extra_wheels_from_env(variable: str = "JUPYSSH_EXTRA_WHEELS") -> list[Path]:
    """Wheels named by ``$JUPYSSH_EXTRA_WHEELS``: ``os.pathsep``-separated wheel files or
    directories (every ``*.whl`` inside). The hook nox uses to put freshly built project
    wheels into the images."""
    value = os.environ.get(variable, "")
    return expand_wheel_paths(Path(item) for item in value.split(os.pathsep) if item)


def expand_wheel_paths(paths: Iterable[Path]) -> list[Path]:
    """Wheel files from files and directories; raises on anything else."""
    wheels: list[Path] = []
    for path in paths:
        if path.is_dir():
            wheels.extend(sorted(path.glob("*.whl")))
        elif path.is_file() and path.suffix == ".whl":
            wheels.append(path)
        else:
            raise HarnessError(f"not a wheel or a folder of wheels: {path}")
    return [wheel.resolve() for wheel in wheels]


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _target_platforms() -> list[str]:
    """Every manylinux tag the target's glibc accepts, newest first. pip does not expand
    ``--platform manylinux_2_36_x86_64`` to older ones (only the manylinux2014/2010
    aliases), so all of them are passed."""
    glibc_minor = int(TARGET_GLIBC.split(".")[1])
    arch = _machine()
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(glibc_minor, 4, -1)]
    return [*platforms, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def _target_tags() -> set[Tag]:
    """Every tag pip accepts for the target (for filtering host-built wheels)."""
    major, minor = (int(part) for part in TARGET_PYTHON.split("."))
    platforms = [*_target_platforms(), f"linux_{_machine()}"]
    abi = f"cp{major}{minor}"
    tags = set(cpython_tags((major, minor), abis=[abi, "abi3", "none"], platforms=platforms))
    tags |= set(compatible_tags((major, minor), interpreter=abi, platforms=platforms))
    return tags


def _key(requirements: Sequence[str], extra: Sequence[Path]) -> str:
    material = {
        "format": _FORMAT,
        "python": TARGET_PYTHON,
        "platforms": _target_platforms(),
        "requirements": list(requirements),
        "extra": [(wheel.name, sha256_file(wheel)) for wheel in extra],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", *args]
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"pip {args[0]} took more than {_PIP_TIMEOUT_S}s") from exc


def _download(dest: Path, requirements_file: Path, extra: Sequence[Path]) -> None:
    major, minor = TARGET_PYTHON.split(".")
    args = [
        "download",
        "--dest",
        str(dest),
        "--find-links",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        TARGET_PYTHON,
        "--implementation",
        "cp",
        "--abi",
        f"cp{major}{minor}",
        "--progress-bar",
        "off",
        "--disable-pip-version-check",
        "-r",
        str(requirements_file),
    ]
    for plat in _target_platforms():
        args += ["--platform", plat]
    args += [str(dest / wheel.name) for wheel in extra]
    result = _pip(*args)
    if result.returncode != 0:
        raise _PipFailed(result.stdout + result.stderr)


class _PipFailed(Exception):
    pass


def _wheel_fallback(dest: Path, requirements_file: Path) -> None:
    """Build wheels on the host for what has no binary wheel; keep those that fit the target."""
    with tempfile.TemporaryDirectory(prefix="jupyssh-wheel-") as scratch:
        result = _pip(
            "wheel",
            "--wheel-dir",
            scratch,
            "--find-links",
            str(dest),
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            "-r",
            str(requirements_file),
        )
        if result.returncode != 0:
            raise HarnessError("pip wheel failed:\n" + (result.stdout + result.stderr)[-3000:])
        target = _target_tags()
        for wheel in Path(scratch).glob("*.whl"):
            _, _, _, tags = parse_wheel_filename(wheel.name)
            if tags & target and not (dest / wheel.name).exists():
                shutil.copy2(wheel, dest / wheel.name)


def ensure_wheelhouse(
    requirements: Sequence[str], *, extra_wheels: Sequence[Path] = ()
) -> Wheelhouse:
    """A wheelhouse holding ``requirements``, the ``extra_wheels`` and all their dependencies,
    for the containers' CPython; made once per distinct input and cached."""
    extra = [Path(wheel).resolve() for wheel in extra_wheels]
    names = [wheel.name for wheel in extra]
    if len(set(names)) != len(names):
        raise HarnessError(f"two extra wheels share a file name: {names}")
    root = cache_dir() / "wheelhouse"
    path = root / _key(requirements, extra)
    house = Wheelhouse(path=path, requirements=tuple(requirements), extra_wheels=tuple(names))

    def fill(scratch: Path) -> str:
        log(f"making wheelhouse {path.name} (CPython {TARGET_PYTHON}, {_target_platforms()[0]})")
        for wheel in extra:
            shutil.copy2(wheel, scratch / wheel.name)
        requirements_file = scratch / "requirements.in"
        requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        try:
            _download(scratch, requirements_file, extra)
        except _PipFailed as first:
            log("pip download (binary only) failed; building missing wheels with pip wheel")
            _wheel_fallback(scratch, requirements_file)
            try:
                _download(scratch, requirements_file, extra)
            except _PipFailed as second:
                raise HarnessError(
                    "cannot make the wheelhouse; pip download said:\n"
                    + str(second)[-3000:]
                    + "\n(first attempt:)\n"
                    + str(first)[-1500:]
                ) from None
        requirements_file.unlink()
        return json.dumps({"requirements": list(requirements), "extra_wheels": names}, indent=1)

    if not make_once(path, fill):
        return house
    log(f"wheelhouse {path.name}: {len(house.files())} wheels")
    return house
