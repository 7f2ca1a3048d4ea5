"""The container engine and the base image: thin wrappers over ``containers/*.sh``.

The shell scripts are the single implementation (they also serve people without this
package); this module checks first, so a ready machine costs one API call.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import docker
import docker.errors

from ._common import HarnessError, containers_dir, log

__all__ = [
    "BASE_IMAGE",
    "docker_client",
    "engine_available",
    "ensure_base_image",
    "ensure_engine",
    "ensure_host_tools",
]

#: The base every image in ``containers/`` builds FROM (passed as ``BASE_IMAGE``).
BASE_IMAGE = "jupyssh/base:bookworm"

_SCRIPT_TIMEOUT_S = 1200  # base-image.sh may install debootstrap and run it (< 2 min here)


def docker_client() -> Any:
    """A ``docker.DockerClient`` for the engine in the environment (``DOCKER_HOST`` or the
    default socket). Raises :class:`HarnessError` when none answers."""
    try:
        client = docker.from_env()
    except docker.errors.DockerException as exc:
        raise HarnessError(f"no container engine answers: {exc}") from exc
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        client.close()  # else its socket leaks, and pytest turns that into an error
        raise HarnessError(f"no container engine answers: {exc}") from exc
    return client


def engine_available() -> bool:
    """Whether a container engine answers right now."""
    try:
        docker_client().close()
    except HarnessError:
        return False
    return True


def _run_script(name: str, *args: str) -> None:
    script = containers_dir() / name
    try:
        subprocess.run(
            ["sh", str(script), *args],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=_SCRIPT_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        raise HarnessError(
            f"{script} failed (exit {exc.returncode}); see its message above"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{script} did not finish within {_SCRIPT_TIMEOUT_S}s") from exc


def ensure_engine() -> None:
    """Make a container engine available: nothing if one answers, else
    ``containers/engine.sh`` (installs/starts dockerd as root on apt systems)."""
    if engine_available():
        return
    log("no container engine answers; running containers/engine.sh")
    _run_script("engine.sh")
    if not engine_available():
        raise HarnessError("containers/engine.sh finished but no engine answers")


#: The programs the tests drive on the host, and the Debian package of each.
HOST_TOOLS = {
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "sftp": "openssh-client",
    "ssh-keygen": "openssh-client",
    "tmux": "tmux",
    "rsync": "rsync",
    # installs the hub image's configurable-http-proxy on the host (see nodepackages.py)
    "npm": "npm",
}


def ensure_host_tools() -> None:
    """Make the host programs of :data:`HOST_TOOLS` available: nothing if all are on PATH,
    else ``containers/host-tools.sh`` with the missing packages (root on apt systems)."""
    missing = sorted({package for tool, package in HOST_TOOLS.items() if not shutil.which(tool)})
    if not missing:
        return
    log(f"missing host programs; installing {' '.join(missing)}")
    _run_script("host-tools.sh", *missing)
    still = sorted(tool for tool in HOST_TOOLS if not shutil.which(tool))
    if still:
        raise HarnessError(f"containers/host-tools.sh finished but {', '.join(still)} not on PATH")


def ensure_base_image(tag: str = BASE_IMAGE) -> str:
    """Make ``tag`` exist (tag of ``debian:bookworm-slim`` or a debootstrap import) and return
    its image id."""
    client = docker_client()
    try:
        try:
            return str(client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            pass
        log(f"base image {tag} missing; running containers/base-image.sh")
        started = time.monotonic()
        _run_script("base-image.sh", tag)
        try:
            image_id = str(client.images.get(tag).id)
        except docker.errors.ImageNotFound as exc:
            raise HarnessError(f"containers/base-image.sh did not produce {tag}") from exc
        log(f"base image {tag} ready in {time.monotonic() - started:.1f}s")
        return image_id
    finally:
        client.close()
