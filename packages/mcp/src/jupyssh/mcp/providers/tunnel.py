"""jupyssh-tunnel's tools: the tunnels to remote Jupyter servers (list, status, open,
close) and the persistent reverse tunnels' records.

A tunnel is ``jupyssh tunnel jupyter``'s own (:func:`jupyssh.tunnel.open_jupyter`): a
forward on 127.0.0.1 through a master of the tunnel's, recorded so that it outlives the
call and the MCP server (as it outlives the CLI), listed and closed by alias. What an agent
gets back is the local URL without the token: the token stays with the remote server (and,
for a person, the browser page ``jupyssh tunnel jupyter`` writes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jupyssh.core.errors import ConfigError, JupyterError
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.mcp.toolset import Services, ToolSet
from jupyssh.tunnel import open_jupyter, stop_jupyter
from jupyssh.tunnel.jupyter.state import JupyterTunnelState
from jupyssh.tunnel.reverse import list_tunnels

__all__ = ["register"]

#: How long the status probe of a tunnel's server may take.
_PROBE_TIMEOUT = 10.0


def register(tools: ToolSet) -> None:
    """Add the tunnel tools."""
    tunnels = _TunnelTools(tools.services)
    tools.add(tunnels.tunnel_list, read_only=True)
    tools.add(tunnels.tunnel_status, read_only=True)
    tools.add(tunnels.tunnel_open, read_only=False)
    tools.add(tunnels.tunnel_close, read_only=False)


class _TunnelTools:
    def __init__(self, services: Services) -> None:
        self.services = services

    def _state(self, alias: str) -> JupyterTunnelState | None:
        settings = self.services.settings
        settings.check_alias(alias)
        return JupyterTunnelState.load(alias, settings.ssh_config)

    async def tunnel_list(self) -> dict[str, Any]:
        """List the open tunnels to remote Jupyter servers (of the allowed aliases), each
        with its local URL (no token), and the persistent reverse tunnels' records."""
        settings = self.services.settings
        jupyter = []
        for alias in sorted(settings.allow):
            state = JupyterTunnelState.load(alias, settings.ssh_config)
            if state is not None:
                jupyter.append(_shown(state))
        reverse = [
            {
                "name": spec.name,
                "via": spec.via,
                "remote_port": spec.remote_port,
                "to": f"{spec.to_host}:{spec.to_port}",
                "scope": spec.scope,
            }
            for spec in list_tunnels()
        ]
        return {"jupyter": jupyter, "reverse": reverse}

    async def tunnel_status(self, alias: str) -> dict[str, Any]:
        """Whether the tunnel to an allowed alias's Jupyter server is open: its ssh master
        runs, and the server answers through the forward (GET /api, no token sent)."""
        state = self._state(alias)
        if state is None:
            return {"alias": alias, "open": False}
        host = AsyncSSHHost(alias, config_file=state.config_file, control_path=state.control_path)
        master = await host.master_pid()
        answering, version, error = False, None, None
        try:
            async with JupyterClient(
                state.url, token=None, timeout=_PROBE_TIMEOUT, trust_env=False, verify=False
            ) as client:
                version = await client.version()
                answering = True
        except JupyterError as exc:
            error = exc.message
        return {
            **_shown(state),
            "open": True,
            "master_pid": master,
            "answering": answering,
            "server_version": version,
            **({"error": error} if error else {}),
        }

    async def tunnel_open(
        self, alias: str, launch: bool = False, local_port: int = 0
    ) -> dict[str, Any]:
        """Open a tunnel to the Jupyter server on an allowed alias (the one running there;
        with launch=true a new one, stopped again by tunnel_close): a forward on
        127.0.0.1 (local_port, 0 for a free one), checked with the server's token before
        this returns. Returns the local URL without the token."""
        settings = self.services.settings
        settings.check_alias(alias)
        if not 0 <= local_port <= 65535:
            raise ConfigError("local_port must be between 0 and 65535 (0: a free one)")
        opened = await open_jupyter(
            alias,
            config_file=settings.ssh_config,
            launch=launch,
            local_port=local_port,
            browser=False,
        )
        return {**_shown(opened.state), "server": opened.record.to_dict()}

    async def tunnel_close(self, alias: str) -> dict[str, Any]:
        """Close the tunnel to an allowed alias and stop the server it launched (a server
        found running is left alone)."""
        self._state(alias)  # the allowlist first
        stopped = await stop_jupyter(alias, config_file=self.services.settings.ssh_config)
        return stopped.to_dict()


def _shown(state: JupyterTunnelState) -> dict[str, Any]:
    """A tunnel's record as the tools show it (no socket paths of the machine)."""
    data = dataclasses.asdict(state)
    for private in ("control_path", "config_file", "launch_id"):
        data.pop(private, None)
    return {**data, "url": state.url, "launched": state.launch_id is not None}
