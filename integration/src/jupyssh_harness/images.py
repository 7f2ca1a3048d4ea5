"""Content-addressed image builds from ``containers/<name>/``.

An image's tag is ``jupyssh-test/<name>:<digest[:12]>``, the digest hashing everything that
goes into the build: the files of ``containers/<name>/``, the base image's id, the
wheelhouse's file names and hashes, and the build arguments. A tag that exists is not
rebuilt, so a second run builds nothing. The build context is made here (the spec's files
plus ``wheels/`` and ``wheels/requirements.txt``, and ``node/`` for an image that lists npm
packages in ``npm-packages.txt``: see :mod:`.nodepackages`) and sent to the engine as a tar
stream.

Files several images share live once, in ``containers/shared/``: an image whose
Dockerfile copies from ``shared/`` gets them in its context (and its digest) as
``shared/<file>``.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker.errors

from ._common import HarnessError, containers_dir, log, sha256_file
from .engine import BASE_IMAGE, docker_client, ensure_base_image, ensure_engine, ensure_host_tools
from .nodepackages import NODE_PACKAGES_FILE, NodePackages, ensure_node_packages
from .wheelhouse import (
    Wheelhouse,
    ensure_wheelhouse,
    extra_wheels_from_env,
    read_requirements,
)

__all__ = [
    "HARNESS_LABEL",
    "IMAGE_NAMES",
    "IMAGE_REPOSITORY",
    "BuiltImage",
    "ensure_image",
    "image_digest",
    "prepare",
    "remove_images",
]

#: Every image, container and network the harness makes carries ``HARNESS_LABEL=1``.
HARNESS_LABEL = "org.jupyssh.harness"
#: The images of ``containers/`` the tests and the sandbox use.
IMAGE_NAMES = ("openssh", "jupyter", "jupyter-sshd", "lab", "slurm", "hub")
IMAGE_REPOSITORY = "jupyssh-test"

_FORMAT = 1  # bump to rebuild every image
_WHEELS = "wheels"
_NODE = "node"
_SHARED = "shared"


@dataclass(frozen=True)
class BuiltImage:
    """An image that exists in the engine."""

    name: str
    tag: str
    digest: str
    #: whether this call built it (False: the tag existed, "up to date")
    built: bool
    seconds: float


def _files_under(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def _spec_files(spec: Path) -> list[tuple[Path, str]]:
    """Every file of the image's build context but the wheels, with its name there."""
    files = [(path, path.relative_to(spec).as_posix()) for path in _files_under(spec)]
    shared = spec.parent / _SHARED
    if f"{_SHARED}/" in (spec / "Dockerfile").read_text(encoding="utf-8"):
        files += [
            (path, f"{_SHARED}/{path.relative_to(shared).as_posix()}")
            for path in _files_under(shared)
        ]
    return files


def image_digest(
    spec: Path,
    *,
    base_image_id: str,
    wheelhouse: Wheelhouse | None,
    build_args: Mapping[str, str],
    node: NodePackages | None = None,
) -> str:
    """SHA-256 over an image's build inputs (see the module docstring)."""
    material: dict[str, Any] = {
        "format": _FORMAT,
        "files": [
            (name, bool(path.stat().st_mode & 0o111), sha256_file(path))
            for path, name in _spec_files(spec)
        ],
        "base": base_image_id,
        "wheels": wheelhouse.digest_items() if wheelhouse else [],
        "install": wheelhouse.install_requirements() if wheelhouse else "",
        "args": sorted(build_args.items()),
    }
    if node is not None:  # only then, so that the other images keep their tags
        material["node"] = node.digest_items()
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.mode & 0o111 or info.isdir() else 0o644
    return info


def _context(spec: Path, wheelhouse: Wheelhouse | None, node: NodePackages | None) -> IO[bytes]:
    stream = tempfile.TemporaryFile()  # noqa: SIM115  # handed to the caller, who closes it
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for path, name in _spec_files(spec):
            tar.add(path, arcname=name, filter=_normalized)
        wheels = wheelhouse.files() if wheelhouse else []
        for wheel in wheels:
            tar.add(wheel, arcname=f"{_WHEELS}/{wheel.name}", filter=_normalized)
        if node is not None:
            for path in node.files():
                name = path.relative_to(node.path).as_posix()
                tar.add(path, arcname=f"{_NODE}/{name}", filter=_normalized)
        text = (wheelhouse.install_requirements() if wheelhouse else "").encode()
        info = _normalized(tarfile.TarInfo(f"{_WHEELS}/requirements.txt"))
        info.size = len(text)
        with tempfile.SpooledTemporaryFile() as body:
            body.write(text)
            body.seek(0)
            tar.addfile(info, body)
    stream.seek(0)
    return stream


def _build(
    client: Any,
    *,
    name: str,
    context: IO[bytes],
    tag: str,
    digest: str,
    build_args: Mapping[str, str],
) -> None:
    lines: list[str] = []
    stream: Iterator[dict[str, Any]] = client.api.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        buildargs=dict(build_args),
        labels={
            HARNESS_LABEL: "1",
            f"{HARNESS_LABEL}.image": name,
            f"{HARNESS_LABEL}.digest": digest,
        },
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(lines[-40:])
            raise HarnessError(f"docker build of {name} failed: {chunk['error'].strip()}\n{tail}")
        text = chunk.get("stream")
        if isinstance(text, str):
            lines.append(text)
            if text.startswith("Step "):
                log(f"  {name}: {text.strip()[:110]}")


def ensure_image(
    name: str,
    *,
    extra_wheels: Sequence[Path] = (),
    base_image: str = BASE_IMAGE,
    build_args: Mapping[str, str] | None = None,
) -> BuiltImage:
    """Build ``containers/<name>`` unless an image with the same inputs exists.

    ``extra_wheels`` (e.g. the project's freshly built wheels) are installed into the image's
    venv next to its ``requirements.txt``; their hashes count toward the tag. The engine and
    the base image must exist (see :func:`prepare`, which makes them).
    """
    started = time.monotonic()
    spec = containers_dir() / name
    if not (spec / "Dockerfile").is_file():
        raise HarnessError(f"no image spec {spec}/Dockerfile")
    requirements_file = spec / "requirements.txt"
    wheelhouse = None
    if requirements_file.is_file() or extra_wheels:
        requirements = read_requirements(requirements_file) if requirements_file.is_file() else []
        wheelhouse = ensure_wheelhouse(requirements, extra_wheels=extra_wheels)
    node_file = spec / NODE_PACKAGES_FILE
    node = ensure_node_packages(read_requirements(node_file)) if node_file.is_file() else None
    args = {"BASE_IMAGE": base_image, **(build_args or {})}

    client = docker_client()
    try:
        try:
            base_id = str(client.images.get(base_image).id)
        except docker.errors.ImageNotFound as exc:
            raise HarnessError(f"base image {base_image} missing; run prepare first") from exc
        digest = image_digest(
            spec, base_image_id=base_id, wheelhouse=wheelhouse, build_args=args, node=node
        )
        tag = f"{IMAGE_REPOSITORY}/{name}:{digest[:12]}"
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            pass
        else:
            log(f"image {name}: up to date ({tag})")
            return BuiltImage(name, tag, digest, built=False, seconds=time.monotonic() - started)

        log(f"image {name}: building {tag}")
        with _context(spec, wheelhouse, node) as context:
            _build(client, name=name, context=context, tag=tag, digest=digest, build_args=args)
        client.images.get(tag).tag(f"{IMAGE_REPOSITORY}/{name}", "latest")
        seconds = time.monotonic() - started
        log(f"image {name}: built {tag} in {seconds:.1f}s")
        return BuiltImage(name, tag, digest, built=True, seconds=seconds)
    finally:
        client.close()


def prepare(
    names: Sequence[str] = IMAGE_NAMES,
    *,
    extra_wheels: Sequence[Path] | None = None,
) -> dict[str, BuiltImage]:
    """Everything the containers need, idempotently: the engine, the base image, the
    wheelhouses and the images, and the client programs the tests drive on the host.
    ``extra_wheels`` defaults to ``$JUPYSSH_EXTRA_WHEELS``."""
    ensure_host_tools()
    ensure_engine()
    ensure_base_image()
    wheels = extra_wheels_from_env() if extra_wheels is None else list(extra_wheels)
    return {name: ensure_image(name, extra_wheels=wheels) for name in names}


def remove_images(*, include_base: bool = False) -> int:
    """Remove every image built by :func:`ensure_image` (all digests, ``latest`` tags and
    dangling predecessors), and the base image too with ``include_base``. Returns how many
    images went. The next :func:`prepare` rebuilds what it needs."""
    client = docker_client()
    removed = 0
    try:
        for image in client.images.list(all=True, filters={"label": f"{HARNESS_LABEL}.image"}):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.ImageNotFound:
                continue  # went with an image removed before it
            removed += 1
        if include_base:
            try:
                client.images.remove(BASE_IMAGE, force=True)
                removed += 1
            except docker.errors.ImageNotFound:
                pass
    finally:
        client.close()
    if removed:
        log(f"removed {removed} images")
    return removed
