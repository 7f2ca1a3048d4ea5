"""``jupyssh tunnel jupyter`` puts the remote Jupyter's token in no argv (here, the
browser's, or on the host) and no ``-vvv`` log line, from the open to the stop, whether it
found the server or launched one with a token it generated (hardening issue, acceptance
4). ``ws-proxy``'s logs are checked in test_tunnel_wsproxy."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from jupyssh_harness import ArgvWatch, lines_with

from .conftest import Browser, Jupyssh, JupyterHost

#: tornado's signed values (jupyter_server's login cookie) start so.
SIGNED_COOKIE = re.compile(r"2\|1:0\|\d+:\d+\|")


def assert_nowhere(
    token: str, watch: ArgvWatch, browser: Browser, *runs: subprocess.CompletedProcess[str]
) -> None:
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert browser.urls(), "the browser was not opened: its argv was not checked"
    logs = "".join(run.stdout + run.stderr for run in runs)
    assert "DEBUG" in logs, "no -vvv output: the log check would be blind"
    assert watch.samples > 2
    assert watch.holding([token]) == []
    assert lines_with(browser.log.read_text(), [token]) == []  # what the browser was handed
    assert lines_with(logs, [token]) == []
    assert [line for line in logs.splitlines() if SIGNED_COOKIE.search(line)] == []


def test_tunnel_jupyter_shows_no_token_in_argv_or_vvv_logs(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, browser: Browser
) -> None:
    cfg = str(jupyter_host.config_file)
    with ArgvWatch(containers=[jupyter_host.container]) as watch:
        opened = jupyssh("tunnel", "jupyter", "-vvv", "-F", cfg, jupyter_host.alias)
        stopped = jupyssh("tunnel", "jupyter", "-vvv", "--stop", "-F", cfg, jupyter_host.alias)
    assert_nowhere(jupyter_host.token, watch, browser, opened, stopped)


def test_tunnel_jupyter_launch_shows_its_token_nowhere(
    jupyter_host: JupyterHost, jupyssh: Jupyssh, browser: Browser
) -> None:
    """The token --launch generates goes to the host in the script on ssh's stdin: it is
    not in the argv of the server started there either."""
    cfg = str(jupyter_host.config_file)
    token = ""
    with ArgvWatch(containers=[jupyter_host.container]) as watch:
        opened = jupyssh("tunnel", "jupyter", "-vvv", "--launch", "-F", cfg, jupyter_host.alias)
        try:
            for handed in browser.urls():  # the private page, read before --stop removes it
                page = Path(unquote(urlsplit(handed).path)).read_text()
                target = re.search(r'content="0;url=([^"]+)"', page)
                assert target is not None, page
                [token] = parse_qs(urlsplit(html.unescape(target.group(1))).query)["token"]
        finally:
            stopped = jupyssh("tunnel", "jupyter", "-vvv", "--stop", "-F", cfg, jupyter_host.alias)
    assert len(token) >= 32, "no generated token learnt: the test would prove nothing"
    assert token != jupyter_host.token
    assert_nowhere(token, watch, browser, opened, stopped)
