"""Acceptance 4 of issue 12: a stopped server starts at login, with progress lines, within
the spawner's own start time plus 2 s."""

from __future__ import annotations

import time

from jupyssh_harness import JupyterHub, KeyPair

from .conftest import HubEndpoint, authorize


def test_a_stopped_server_starts_at_login_with_progress_lines(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("bob")
    authorize(hub, "bob", user_keys["bob"])  # kept in bob's home while the server is down
    hub.stop_server("bob")
    began = time.monotonic()
    hub.start_server("bob")
    spawner_seconds = time.monotonic() - began
    hub.stop_server("bob")

    began = time.monotonic()
    result = endpoint.run("bob", user_keys["bob"].private_key, "whoami")
    login_seconds = time.monotonic() - began

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"bob\n"
    progress = [line for line in result.stderr.decode().splitlines() if "jupyssh-hub" in line]
    assert progress[0] == "jupyssh-hub: starting bob's server on the hub ..."
    assert progress[1].startswith("jupyssh-hub: bob's server is ready (")
    assert len(progress) == 2
    assert login_seconds <= spawner_seconds + 2.0, (login_seconds, spawner_seconds)
