"""A Jupyter server on a remote host, in the local browser: find or launch, forward, probe, open.

The forward rides a control master of the tunnel's own (``ControlPersist=yes`` on a socket
named for the alias), not the user's shared one: the forward then outlives this process
without depending on another master's idle timer, and ``stop_jupyter`` can end that master
without cutting the user's other sessions. The local end binds 127.0.0.1 only; a port taken
between choice and bind is retried with another (``AsyncSSHHost.forward_local``).

The browser is opened only after ``GET /api/status`` with the token answered 200 through
the forward: never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from jupyssh.core.errors import (
    ForwardingError,
    JupysshError,
    JupyterAuthError,
    JupyterError,
    SSHError,
)
from jupyssh.core.jupyter import JupyterClient, parse_server_url
from jupyssh.core.ssh import AsyncSSHHost, LocalForward
from jupyssh.tunnel.errors import NoJupyterServerError, TunnelExistsError, TunnelNotFoundError
from jupyssh.tunnel.jupyter.browser import open_in_browser
from jupyssh.tunnel.jupyter.remote import (
    ServerRecord,
    discover_servers,
    launch_server,
    stop_server,
)
from jupyssh.tunnel.jupyter.state import (
    JupyterTunnelState,
    control_path_for,
    open_page_for,
    state_key,
)

__all__ = ["OpenedJupyter", "StoppedJupyter", "open_jupyter", "stop_jupyter"]

log = logging.getLogger(__name__)

#: How many recorded servers are tried before giving up (stale records pile up on HPC).
_MAX_CANDIDATES = 5
#: Seconds a server behind a fresh forward may take to answer its first request.
_PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OpenedJupyter:
    """An open tunnel: its record, the server behind it and what happened to the browser."""

    state: JupyterTunnelState
    record: ServerRecord
    token: str = field(repr=False)
    browser_opened: bool
    #: the redirect page handed to the browser (holds the token; 0600), when one was made
    open_file: str | None = None

    @property
    def url(self) -> str:
        """The local URL without the token (safe to print and log)."""
        return self.state.url

    @property
    def url_with_token(self) -> str:
        """The local URL that logs the browser in (what ``$BROWSER`` receives)."""
        return f"{self.state.url}?token={quote(self.token)}" if self.token else self.state.url

    def to_dict(self, *, show_token: bool = False) -> dict[str, Any]:
        data = self.state.to_dict()
        data["server"] = self.record.to_dict()
        data["browser_opened"] = self.browser_opened
        data["open_file"] = self.open_file
        if show_token:
            data["url_with_token"] = self.url_with_token
        return data


@dataclass(frozen=True)
class StoppedJupyter:
    """What ``stop_jupyter`` undid."""

    alias: str
    url: str
    server_stopped: bool
    launched: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "url": self.url,
            "launched": self.launched,
            "server_stopped": self.server_stopped,
        }


def _tunnel_host(
    alias: str, config_file: str | None, control_path: str, connect_timeout: float
) -> AsyncSSHHost:
    return AsyncSSHHost(
        alias,
        config_file=config_file,
        control_path=control_path,
        control_persist="yes",
        connect_timeout=connect_timeout,
    )


async def open_jupyter(
    alias: str,
    *,
    config_file: str | None = None,
    launch: bool = False,
    local_port: int = 0,
    browser: bool = True,
    server_url: str | None = None,
    server_token: str | None = None,
    unix_socket: bool = True,
    connect_timeout: float = 10.0,
    probe_timeout: float = _PROBE_TIMEOUT_S,
) -> OpenedJupyter:
    """Open the Jupyter server on ``alias`` in the local browser; called by ``tunnel jupyter``.

    Which server: ``server_url`` (one the host reaches, e.g. ``http://jupyter:8888/``, with
    ``server_token``); else with ``launch`` a new one started with a generated token;
    else the live servers recorded in the host's runtime folder, newest first, the first
    that answers. ``local_port=0`` picks a free port. On any failure, everything started
    so far (forward, master, launched server) is undone before the error propagates.
    """
    existing = JupyterTunnelState.load(alias, config_file)
    if existing is not None:
        if await _tunnel_alive(existing, connect_timeout):
            raise TunnelExistsError(
                f"a tunnel to {alias} is already open at {existing.url}",
                where=alias,
                hint=f"use it, or close it first: jupyssh tunnel jupyter {alias} --stop",
            )
        log.info("the recorded tunnel to %s is dead; cleaning it up", alias)
        with contextlib.suppress(JupysshError):
            await stop_jupyter(alias, config_file=config_file, connect_timeout=connect_timeout)
        existing.delete()

    key = state_key(alias, config_file)
    host = _tunnel_host(alias, config_file, control_path_for(key), connect_timeout)
    launched_id: str | None = None
    launched_pid = 0
    try:
        await host.start_master()
        if server_url is not None:
            candidates, token_for = _given_server(server_url, server_token)
        elif launch:
            token = secrets.token_hex(24)
            launched_id = secrets.token_hex(6)
            started = await launch_server(
                host, launch_id=launched_id, token=token, unix_socket=unix_socket
            )
            launched_pid = started.pid
            candidates, token_for = [started.record], {started.record.path: token}
        else:
            candidates = await _running_servers(host)
            token_for = {r.path: r.token for r in candidates}
        record, forward = await _first_answering(
            host, candidates, token_for, local_port=local_port, probe_timeout=probe_timeout
        )
        state = JupyterTunnelState(
            alias=alias,
            config_file=config_file,
            control_path=await host.control_path(),
            local_host=forward.local_host,
            local_port=forward.local_port,
            remote=forward.remote,
            base_url=_path(record.base_url),
            scheme="https" if record.secure else "http",
            server_pid=record.pid,
            launch_id=launched_id,
        )
        state.save()
    except BaseException:
        await _undo(host, launched_pid, launched_id)
        raise
    token = token_for[record.path]
    opened = OpenedJupyter(state, record, token, browser_opened=False)
    if browser:
        page = open_page_for(state.key)
        shown = await open_in_browser(opened.url_with_token, page)
        opened = OpenedJupyter(state, record, token, browser_opened=shown, open_file=str(page))
    return opened


async def _running_servers(host: AsyncSSHHost) -> list[ServerRecord]:
    """The live servers recorded on the host, newest first; raises when there is none."""
    found = await discover_servers(host)
    candidates = [r for r in found.candidates() if r.alive][:_MAX_CANDIDATES]
    if not candidates:
        raise NoJupyterServerError(
            "no Jupyter server runs on the host"
            + (f" (no live record in {found.runtime_dir})" if found.runtime_dir else ""),
            where=host.destination,
            hint=f"start one with: jupyssh tunnel jupyter {host.destination} --launch",
        )
    return candidates


def _given_server(url: str, token: str | None) -> tuple[list[ServerRecord], dict[str, str]]:
    """A record for a server the host reaches at ``url`` (not one of its own)."""
    server = parse_server_url(url)
    parts = urlsplit(server.base_url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    record = ServerRecord(
        path=server.base_url,
        alive=True,
        pid=0,
        port=port,
        sock="",
        base_url=parts.path,
        hostname=parts.hostname or "127.0.0.1",
        secure=secure,
        password=False,
        version="",
        token="",
    )
    return [record], {record.path: token or server.token or ""}


async def _first_answering(
    host: AsyncSSHHost,
    candidates: list[ServerRecord],
    token_for: dict[str, str],
    *,
    local_port: int,
    probe_timeout: float,
) -> tuple[ServerRecord, LocalForward]:
    """Forward to each candidate in turn; keep the first whose ``/api/status`` answers."""
    last: JupysshError | None = None
    for record in candidates:
        forward = await _forward(host, record, local_port)
        try:
            await _probe(forward, record, token_for.get(record.path, ""), probe_timeout)
        except JupyterAuthError:
            await host.cancel_forward(forward)
            raise
        except JupyterError as exc:
            log.info("server %s does not answer: %s", record.path, exc)
            last = exc
            await host.cancel_forward(forward)
            continue
        return record, forward
    raise NoJupyterServerError(
        "no recorded Jupyter server answered through the tunnel"
        + (f": {last.message}" if last else ""),
        where=host.destination,
        hint=f"start one with: jupyssh tunnel jupyter {host.destination} --launch",
    )


async def _forward(host: AsyncSSHHost, record: ServerRecord, local_port: int) -> LocalForward:
    """The forward to ``record``; a port the user chose that is taken is named as such."""
    try:
        return await host.forward_local(record.remote_target(), local_port=local_port)
    except ForwardingError as exc:
        if local_port and _port_taken(local_port):
            raise ForwardingError(
                f"local port {local_port} on 127.0.0.1 is already in use",
                where=host.destination,
                hint="choose another with --local-port, or --local-port auto",
                stderr=exc.stderr,
            ) from None
        raise


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


async def _probe(forward: LocalForward, record: ServerRecord, token: str, timeout: float) -> None:
    """Wait until the server answers through ``forward``: ``/api/status`` with the token
    (``/api`` for a password-only server, whose status needs a login). Connection
    failures are retried until ``timeout``; an answer that refuses the token is final."""
    scheme = "https" if record.secure else "http"
    url = f"{scheme}://{forward.local_host}:{forward.local_port}{_path(record.base_url)}"
    # TLS adds nothing on a forward ssh already authenticates, and the certificate names
    # the remote host, not 127.0.0.1.
    client = JupyterClient(
        url, token=token or None, timeout=10.0, verify=not record.secure, trust_env=False
    )
    deadline = time.monotonic() + timeout
    async with client:
        while True:
            try:
                await (client.status() if token else client.version())
            except JupyterAuthError:
                raise
            except JupyterError:
                if time.monotonic() >= deadline:
                    raise
            else:
                return
            await asyncio.sleep(0.25)


def _path(base_url: str) -> str:
    return urlsplit(base_url).path if "://" in base_url else base_url


async def _undo(host: AsyncSSHHost, launched_pid: int, launched_id: str | None) -> None:
    """Undo a half-made tunnel: the launched server, the forwards, the master."""
    with contextlib.suppress(JupysshError, OSError):
        if launched_id and launched_pid:
            await stop_server(host, pid=launched_pid, launch_id=launched_id)
    with contextlib.suppress(JupysshError, OSError):
        await host.close()
    with contextlib.suppress(JupysshError, OSError):
        await host.stop_master()  # ours even when it was left over from an earlier run


async def _tunnel_alive(state: JupyterTunnelState, connect_timeout: float) -> bool:
    """Whether the recorded master still runs and the local port still accepts."""
    host = _tunnel_host(state.alias, state.config_file, state.control_path, connect_timeout)
    if await host.master_pid() is None:
        return False
    try:
        with socket.create_connection((state.local_host, state.local_port), timeout=2.0):
            return True
    except OSError:
        return False


async def stop_jupyter(
    alias: str, *, config_file: str | None = None, connect_timeout: float = 10.0
) -> StoppedJupyter:
    """Close the tunnel to ``alias`` and stop the server it launched; called by
    ``tunnel jupyter --stop``. A server found running (not launched) is left alone.

    The local side (forward, master, record) is always undone; when the launched server
    could not be reached to stop it, the ``SSHError`` is raised afterwards, saying so.
    """
    state = JupyterTunnelState.load(alias, config_file)
    if state is None:
        raise TunnelNotFoundError(
            f"no tunnel to {alias} is recorded",
            where=alias,
            hint=f"open one with: jupyssh tunnel jupyter {alias}",
        )
    host = _tunnel_host(alias, config_file, state.control_path, connect_timeout)
    stopped = False
    failure: SSHError | None = None
    if state.launch_id is not None:
        try:
            stopped = await stop_server(host, pid=state.server_pid, launch_id=state.launch_id)
        except SSHError as exc:
            failure = exc
    forward = LocalForward(state.local_host, state.local_port, state.remote)
    with contextlib.suppress(ForwardingError, SSHError):
        if await host.master_pid() is not None:
            await host.cancel_forward(forward)
    await host.stop_master()
    state.delete()
    if failure is not None:
        raise SSHError(
            f"the tunnel is closed, but the server it launched (pid {state.server_pid}) "
            f"could not be stopped: {failure.message}",
            where=alias,
            hint=f"stop it on the host: kill {state.server_pid}",
            stderr=failure.stderr,
        )
    return StoppedJupyter(alias, state.url, stopped, state.launch_id is not None)
