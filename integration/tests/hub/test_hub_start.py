"""Acceptance 4 of issue 12: a stopped server starts at login, with progress lines, within
the spawner's own start time plus 2 s."""

from __future__ import annotations

import re

from jupyssh_harness import JupyterHub, KeyPair

from .conftest import HubEndpoint, authorize


def test_a_stopped_server_starts_at_login_with_progress_lines(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("bob")
    authorize(hub, "bob", user_keys["bob"])  # kept in bob's home while the server is down
    hub.stop_server("bob")

    result = endpoint.run("bob", user_keys["bob"].private_key, "whoami")

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"bob\n"
    progress = [line for line in result.stderr.decode().splitlines() if "jupyssh-hub" in line]
    assert progress[0] == "jupyssh-hub: starting bob's server on the hub ..."
    ready = re.fullmatch(r"jupyssh-hub: bob's server is ready \((\d+\.\d) s\)", progress[1])
    assert ready is not None, progress
    assert len(progress) == 2
    # the start as the service saw it (its request to the hub until the server was ready)
    # against this same start as the hub logged the spawner's time; the command's kernel
    # start comes after, and is not the spawner's
    spawner_seconds = hub.spawn_seconds("bob")
    assert spawner_seconds is not None
    assert float(ready.group(1)) <= spawner_seconds + 2.0, (ready.group(1), spawner_seconds)
