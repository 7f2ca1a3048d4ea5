"""``--warm N``: kernels started ahead are really handed to new connections, replaced,
and deleted with the bridge."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, KeyPair, wait_for

from jupyssh.bridge.server import BridgeConfig, BridgeServer
from jupyssh.core.jupyter import JupyterClient
from jupyssh.core.server import ServerConfig

from .conftest import BridgeEndpoint, kernel_ids, pin_host_key, write_authorized_keys

pytestmark = [
    pytest.mark.integration,
]


def test_a_new_connection_takes_a_warm_kernel(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path: Path
) -> None:
    before = kernel_ids(jupyter_server)
    config = ServerConfig(
        host_key=tmp_path / "host_key",
        authorized_keys=write_authorized_keys(tmp_path / "authorized_keys", keypair),
    )
    client = JupyterClient(jupyter_server.url, token=jupyter_server.token)
    server = BridgeServer(client, config, BridgeConfig(warm=1))
    with server:
        server.start()
        wait_for(lambda: len(server.pool.ready) == 1, 60, "a warm kernel")
        warm = server.pool.ready[0]
        assert kernel_ids(jupyter_server) - before == {warm}

        pin_host_key(server, tmp_path / "known_hosts")
        endpoint = BridgeEndpoint(server.address[1], tmp_path / "known_hosts", keypair)
        with subprocess.Popen(
            endpoint.argv("echo started; sleep 3"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"started\n"
            assert [session.kernel_id for session in server.sessions] == [warm]
            wait_for(lambda: len(server.pool.ready) == 1, 60, "the pool to refill")
            replacement = server.pool.ready[0]
            assert replacement != warm
            assert proc.wait(timeout=60) == 0
        wait_for(lambda: warm not in kernel_ids(jupyter_server), 10, "the used kernel to go")
    assert kernel_ids(jupyter_server) - before == set(), "the bridge left kernels behind"
    assert replacement not in kernel_ids(jupyter_server)
