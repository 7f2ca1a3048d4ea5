"""``jupyssh tunnel jupyter`` puts the remote Jupyter's token in no argv (here, the
browser's, or on the host) and no ``-vvv`` log line, from the open to the stop (hardening
issue, acceptance 4). ``ws-proxy``'s logs are checked in test_tunnel_wsproxy."""

from __future__ import annotations

import re

from jupyssh_harness import ArgvWatch, lines_with

from .conftest import Browser, Jupyssh, JupyterHost

#: tornado's signed values (jupyter_server's login cookie) start so.
SIGNED_COOKIE = re.compile(r"2\|1:0\|\d+:\d+\|")


def test_tunnel_jupyter_shows_no_token_in_argv_or_vvv_logs(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, browser: Browser
) -> None:
    cfg = str(jupyter_host.config_file)
    with ArgvWatch(containers=[jupyter_host.container]) as watch:
        opened = jupyssh("tunnel", "jupyter", "-vvv", "-F", cfg, jupyter_host.alias)
        stopped = jupyssh("tunnel", "jupyter", "-vvv", "--stop", "-F", cfg, jupyter_host.alias)
    assert opened.returncode == 0, opened.stderr
    assert stopped.returncode == 0, stopped.stderr
    assert browser.urls(), "the browser was not opened: its argv was not checked"
    token = jupyter_host.token
    logs = "".join((opened.stdout, opened.stderr, stopped.stdout, stopped.stderr))
    assert "DEBUG" in logs, "no -vvv output: the log check would be blind"
    assert watch.samples > 2
    assert watch.holding([token]) == []
    assert lines_with(browser.log.read_text(), [token]) == []  # what the browser was handed
    assert lines_with(logs, [token]) == []
    assert [line for line in logs.splitlines() if SIGNED_COOKIE.search(line)] == []
