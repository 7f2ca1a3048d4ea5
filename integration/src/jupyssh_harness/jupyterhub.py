"""A running JupyterHub (``containers/hub``): the hub, its proxy, system users ``alice``,
``bob`` and ``carol`` spawned by the local-process spawner, and two services.

The proxy is published on 127.0.0.1; the hub's API is reached through it
(``<url>hub/api/``), as are users' servers (``<url>user/<name>/``). The ``jupyssh`` service
has the least-privilege role jupyssh-hub documents; the ``harness`` service is what this
fixture uses to make users' tokens and to start and stop their servers.

Given the project's wheels (``start_jupyterhub(…, wheels_dir=…)``), the hub itself runs
``jupyssh hub serve`` as its managed ``jupyssh`` service, reached as SSH over WebSocket
through the proxy at :attr:`JupyterHub.service_url` (the way a hub's operators deploy it).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from ._common import HarnessError
from .containers import (
    LOOPBACK,
    STARTUP_TIMEOUT_S,
    TEST_LABEL,
    ExecResult,
    LoopbackContainer,
    exec_in,
    labels_for,
    published_port,
)
from .hosts import _Running

__all__ = [
    "HUB_IMAGE_PYTHON",
    "HUB_PORT",
    "HUB_SERVICE_PACKAGES",
    "HUB_USERS",
    "JupyterHub",
    "start_jupyterhub",
]

#: The proxy's port inside the container.
HUB_PORT = 8000
#: The hub's users, system users of the image.
HUB_USERS = ("alice", "bob", "carol")
#: The jupyssh packages whose wheels the managed service runs (``build_project_wheels``).
HUB_SERVICE_PACKAGES = ("core", "bridge", "sftp", "hub")
#: The CPython of the hub image's venv (Debian bookworm's): project wheels built with their
#: compiled accelerators install there only when the host's is the same.
HUB_IMAGE_PYTHON = (3, 11)
#: Where the image mounts the project's wheels for the managed service.
WHEELS_MOUNT = "/opt/jupyssh-wheels"
#: The line `jupyssh hub serve` prints with its host key (in the hub's log when managed).
_KNOWN_HOSTS = re.compile(r"known_hosts: \S+ (ssh-ed25519 [A-Za-z0-9+/=]+)")
#: How long a user's server may take to start (the spawner's own start_timeout is 60 s).
SERVER_START_TIMEOUT_S = 60.0
_REQUEST_TIMEOUT_S = 30.0
_POLL_S = 0.2


@dataclass(frozen=True)
class JupyterHub(_Running):
    """A running hub: ``url`` is ``http://127.0.0.1:<port>/`` (the proxy)."""

    url: str
    port: int
    #: the ``jupyssh`` service's token (its least-privilege role)
    service_token: str = field(repr=False)
    #: the ``harness`` service's token (users' tokens and servers)
    harness_token: str = field(repr=False)
    container: DockerContainer
    _resources: ExitStack = field(repr=False, compare=False)

    @property
    def api_url(self) -> str:
        """The hub's REST API, ``<url>hub/api`` (what ``$JUPYTERHUB_API_URL`` says)."""
        return f"{self.url}hub/api"

    @property
    def service_url(self) -> str:
        """The ``jupyssh`` service's URL through the proxy (``<url>services/jupyssh/``)."""
        return f"{self.url}services/jupyssh/"

    def service_host_key(self, timeout: float = 30.0) -> str:
        """``ssh-ed25519 AAAA…`` of the managed ``jupyssh`` service, from the line it logs
        as it starts (the hub's log); waits for it, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            found = _KNOWN_HOSTS.findall(self._logs())
            if found:
                return str(found[-1])
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"the managed jupyssh service logged no host key in {timeout:g} s"
                )
            time.sleep(_POLL_S)

    def _logs(self) -> str:
        stdout, stderr = self.container.get_logs()
        return (stdout or b"").decode(errors="replace") + (stderr or b"").decode(errors="replace")

    def server_url(self, user: str, server_name: str = "") -> str:
        """The URL of ``user``'s (named) server behind the proxy, with a trailing slash."""
        path = f"user/{quote(user, safe='')}/"
        if server_name:
            path += f"{quote(server_name, safe='')}/"
        return self.url + path

    def api(
        self, method: str, path: str, *, token: str | None = None, json: Any = None
    ) -> httpx.Response:
        """One hub API request (``path`` under ``hub/api/``), with ``token`` or the
        harness's."""
        headers = {"Authorization": f"token {token or self.harness_token}"}
        return httpx.request(
            method,
            f"{self.api_url}/{path.lstrip('/')}",
            headers=headers,
            json=json,
            timeout=_REQUEST_TIMEOUT_S,
            trust_env=False,
        )

    def user_token(self, user: str, *, note: str = "jupyssh integration test") -> str:
        """A new API token of ``user`` (made by the harness service)."""
        response = self.api("POST", f"users/{quote(user, safe='')}/tokens", json={"note": note})
        if response.status_code != 201:
            raise HarnessError(f"cannot make a token for {user}: {_said(response)}")
        return str(response.json()["token"])

    def server_state(self, user: str, server_name: str = "") -> dict[str, Any] | None:
        """The hub's model of ``user``'s server, or ``None`` when it has none."""
        response = self.api("GET", f"users/{quote(user, safe='')}")
        if response.status_code != 200:
            raise HarnessError(f"cannot read user {user}: {_said(response)}")
        servers: dict[str, Any] = response.json().get("servers") or {}
        found = servers.get(server_name)
        return found if isinstance(found, dict) else None

    def start_server(
        self,
        user: str,
        *,
        server_name: str = "",
        token: str | None = None,
        timeout: float = SERVER_START_TIMEOUT_S,
    ) -> None:
        """Ask the hub to start ``user``'s (named) server (with ``token``, or the
        harness's) and wait, bounded, until the hub says it is ready."""
        response = self.api("POST", _server_path(user, server_name), token=token)
        if response.status_code not in {201, 202, 400}:  # 400: already running
            raise HarnessError(f"cannot start {user}'s server: {_said(response)}")
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.server_state(user, server_name)
            if state is not None and state.get("ready"):
                return
            time.sleep(_POLL_S)
        raise HarnessError(f"{user}'s server not ready within {timeout:g} s: {state}")

    def stop_server(
        self, user: str, *, server_name: str = "", timeout: float = SERVER_START_TIMEOUT_S
    ) -> None:
        """Stop ``user``'s (named) server and wait, bounded, until the hub has forgotten it."""
        response = self.api("DELETE", _server_path(user, server_name))
        if response.status_code not in {202, 204, 400, 404}:  # 400, 404: not running, none
            raise HarnessError(f"cannot stop {user}'s server: {_said(response)}")
        deadline = time.monotonic() + timeout
        while self.server_state(user, server_name) is not None:
            if time.monotonic() > deadline:
                raise HarnessError(f"{user}'s server still there after {timeout:g} s")
            time.sleep(_POLL_S)

    def spawn_seconds(self, user: str, server_name: str = "") -> float | None:
        """How long the spawner took for the last start of ``user``'s (named) server, as the
        hub logged it ("User bob took 2.153 seconds to start"); ``None`` if it never did."""
        name = f"{user}:{server_name}" if server_name else user
        text = self._logs()
        pattern = rf"User {re.escape(name)} took (\d+(?:\.\d+)?) seconds to start"
        found = re.findall(pattern, text)
        return float(found[-1]) if found else None

    def authorize(self, user: str, public_line: str) -> None:
        """Make ``public_line`` the only key in ``user``'s ~/.ssh/authorized_keys (written as
        that user, in their home: what jupyssh-hub reads through their server)."""
        script = 'mkdir -p -m 700 "$1/.ssh" && printf "%s\\n" "$2" > "$1/.ssh/authorized_keys"'
        self.exec(["sh", "-c", script, "sh", f"/home/{user}", public_line], user=user)

    def exec(self, argv: Sequence[str], *, user: str = "root", check: bool = True) -> ExecResult:
        """Run ``argv`` inside the hub's container (as root unless told otherwise)."""
        return exec_in(self.container, argv, user=user, check=check)


def _server_path(user: str, server_name: str) -> str:
    path = f"users/{quote(user, safe='')}/server"
    return f"{path}s/{quote(server_name, safe='')}" if server_name else path


def _said(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.text[:300]}"


def hub_container(
    image: str,
    *,
    service_token: str,
    harness_token: str,
    role_label: str = TEST_LABEL,
    wheels_dir: Path | None = None,
    extra_ports: Sequence[int] = (),
) -> LoopbackContainer:
    """A ``containers/hub`` container (not started yet), ready when ``/hub/api/`` answers;
    with ``wheels_dir`` (the project's wheels) the hub runs the managed jupyssh service;
    ``extra_ports`` are published too (on 127.0.0.1, as the proxy's)."""
    container = LoopbackContainer(image)
    if extra_ports:
        container.with_exposed_ports(*extra_ports)
    if wheels_dir is not None:
        container.with_volume_mapping(str(wheels_dir), WHEELS_MOUNT, "ro")
        container.with_env("JUPYSSH_MANAGED", "1")
    return (
        container.with_env("JUPYSSH_SERVICE_TOKEN", service_token)
        .with_env("HARNESS_SERVICE_TOKEN", harness_token)
        .with_exposed_ports(HUB_PORT)
        .waiting_for(
            HttpWaitStrategy(HUB_PORT, "/hub/api/")
            .for_status_code(200)
            .with_startup_timeout(STARTUP_TIMEOUT_S)
            .with_poll_interval(0.2)
        )
        .with_kwargs(labels=labels_for(role_label))
    )


def start_jupyterhub(
    image: str,
    *,
    role_label: str = TEST_LABEL,
    wheels_dir: Path | None = None,
    extra_ports: Sequence[int] = (),
) -> JupyterHub:
    """Start the hub with fresh service tokens; ready when its API answers through the
    proxy. With ``wheels_dir`` (jupyssh-core, -bridge, -sftp and -hub wheels, see
    ``build_project_wheels``) the hub also runs ``jupyssh hub serve`` as its managed
    ``jupyssh`` service. Use the result as a context manager, or call its ``stop()``."""
    service_token = secrets.token_hex(24)
    harness_token = secrets.token_hex(24)
    container = hub_container(
        image,
        service_token=service_token,
        harness_token=harness_token,
        role_label=role_label,
        wheels_dir=wheels_dir,
        extra_ports=extra_ports,
    )
    with ExitStack() as resources:
        resources.callback(container.stop)
        container.start()
        port = published_port(container, HUB_PORT)
        return JupyterHub(
            url=f"http://{LOOPBACK}:{port}/",
            port=port,
            service_token=service_token,
            harness_token=harness_token,
            container=container,
            _resources=resources.pop_all(),
        )
