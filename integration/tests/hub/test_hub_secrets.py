"""``jupyssh hub serve`` at ``-vvv`` serving logins shows no token in any argv or log line:
not the service's hub token, not a user's hub token typed as the password, not Jupyter's
signed login cookie (hardening issue, acceptance 4, for the hub service)."""

from __future__ import annotations

import re
from pathlib import Path

from jupyssh_harness import ArgvWatch, JupyterHub, KeyPair, lines_with

from .conftest import authorize
from .test_hub_concurrency import ServiceProcess

#: tornado's signed values (the hub's and the servers' login cookies) start so.
SIGNED_COOKIE = re.compile(r"2\|1:0\|\d+:\d+\|")


def test_hub_serve_shows_no_token_in_argv_or_vvv_logs(
    hub: JupyterHub, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    hub.start_server("alice")
    authorize(hub, "alice", user_keys["alice"])
    alices_token = hub.user_token("alice")
    with ArgvWatch() as watch:
        service = ServiceProcess(hub, tmp_path, "-vvv")
        try:
            endpoint = service.endpoint(tmp_path)
            done = endpoint.run("alice", user_keys["alice"].private_key, "whoami", timeout=120)
            assert done.stdout.decode().strip() == "alice", done.stderr.decode()
        finally:
            status = service.stop()
    assert status == 0
    text = service.log.read_text(errors="replace")
    assert "DEBUG" in text, "no -vvv output: the log check would be blind"
    secrets = [hub.service_token, alices_token]
    assert watch.samples > 5
    assert watch.holding(secrets) == []
    assert lines_with(text, secrets) == []
    assert [line for line in text.splitlines() if SIGNED_COOKIE.search(line)] == []
