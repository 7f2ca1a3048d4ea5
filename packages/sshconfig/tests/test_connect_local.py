"""``--connect`` failures that need no server: a closed port on 127.0.0.1, a name that
glibc rejects without sending a query (a 64-character label), and hops behind them."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from jupyssh.core.ssh import Resolver
from jupyssh.sshconfig import Role, Severity, check
from jupyssh.sshconfig.configfile import scan_config
from jupyssh.sshconfig.connect import destination_for
from jupyssh.sshconfig.context import gather

#: Longer than DNS allows for one label: getaddrinfo fails before any packet is sent.
UNRESOLVABLE = "a" * 64 + ".invalid"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _config(folder: Path, keys: Any, body: str) -> str:
    config = folder / "config"
    config.write_text(
        body + f"Host *\n    IdentityFile {keys.folder}/clear\n    User tester\n"
        f"    UserKnownHostsFile {folder}/known_hosts\n    ConnectTimeout 5\n"
    )
    config.chmod(0o600)
    return str(config)


def test_refused_port_is_named(short_tmp: Path, keys: Any, probes: Any) -> None:
    port = _closed_port()
    config = _config(short_tmp, keys, f"Host dead\n    HostName 127.0.0.1\n    Port {port}\n")
    report = check("dead", Role.CLIENT, True, config, probes=probes(short_tmp))
    (finding,) = report.find("JS601")
    assert finding.severity is Severity.ERROR
    assert finding.value == "connection-refused"
    assert "Port" in finding.fix
    assert report.connected
    assert report.hops[0].connect is not None
    assert report.hops[0].connect.cause == "connection-refused"
    assert report.to_dict()["hops"][0]["connect"]["tried"] is True
    assert report.exit_status == 1


def test_unresolvable_name_is_named(short_tmp: Path, keys: Any, probes: Any) -> None:
    config = _config(short_tmp, keys, f"Host nowhere\n    HostName {UNRESOLVABLE}\n")
    report = check("nowhere", Role.CLIENT, True, config, probes=probes(short_tmp))
    assert report.find("JS601")[0].value == "name-resolution"
    assert report.find("JS102")[0].severity is Severity.ERROR


def test_hops_behind_a_failed_hop_are_not_tried(short_tmp: Path, keys: Any, probes: Any) -> None:
    port = _closed_port()
    config = _config(
        short_tmp,
        keys,
        f"Host inner\n    HostName 10.255.0.1\n    ProxyJump jump\n"
        f"Host jump\n    HostName 127.0.0.1\n    Port {port}\n",
    )
    report = check("inner", Role.KERNEL, True, config, probes=probes(short_tmp))
    assert report.find("JS601", "jump")[0].value == "connection-refused"
    (skipped,) = report.find("JS603", "inner")
    assert "hop 1 (jump) failed" in skipped.message
    assert not report.find("JS601", "inner")
    assert not report.find("JS602")  # no master check when the route is broken
    assert report.hops[1].connect is not None
    assert not report.hops[1].connect.tried


def test_destination_for_hops_with_a_port(short_tmp: Path, keys: Any, probes: Any) -> None:
    config = _config(short_tmp, keys, "Host t\n    HostName 10.0.0.1\n    ProxyJump u@j:2222\n")

    async def hops() -> list[str]:
        resolver = Resolver(config)
        route = await resolver.chain("t")
        ctx = await gather(
            "t",
            role=Role.CLIENT,
            config_file=config,
            hops=route,
            scan=scan_config(config),
            probes=probes(short_tmp),
            resolver=resolver,
        )
        return [destination_for(h) for h in ctx.hops]

    assert asyncio.run(hops()) == ["ssh://u@j:2222", "t"]
