"""jupyssh-tunnel: the sandbox's Jupyter server in the "browser", through an ssh tunnel."""

from __future__ import annotations

import stat

from ..demo import Demo, DemoError

PACKAGE = "jupyssh-tunnel"
MODULE = "jupyssh.tunnel"
TITLE = "a remote Jupyter server in the local browser; SSH over WebSocket"


def run(demo: Demo) -> None:
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    import httpx

    # The "browser" is a script that writes down the URL it is handed.
    log = demo.workdir / "tunnel-browser.log"
    log.unlink(missing_ok=True)
    browser = demo.workdir / "tunnel-browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    token = demo.sandbox.jupyter.token
    env = {"BROWSER": str(browser), "JUPYTER_TOKEN": token}

    demo.say(
        "The ssh host reaches a Jupyter server at http://jupyter:8888/ that this machine "
        "cannot: forward a local port to it through the alias, check /api/status with the "
        "token (read from $JUPYTER_TOKEN), then open the browser"
    )
    shown = ["jupyssh", "tunnel", "jupyter", "-F", demo.config, demo.alias]
    argv = [*shown, "--server", "http://jupyter:8888/"]
    out = demo.shell(_program(argv), shown=argv, env=env)
    url = next((line for line in out.splitlines() if line.startswith("http://")), "")
    handed = log.read_text().split() if log.exists() else []
    # The browser gets file:// of a private page that redirects to the tokened URL: the
    # token never shows in its argv (ps).
    page = Path(unquote(urlsplit(handed[0]).path)) if len(handed) == 1 else None
    target = page.read_text() if page is not None and page.is_file() else ""
    if not url or token in "".join(handed) or f'content="0;url={url}?token={token}"' not in target:
        raise DemoError("the browser was not handed a page that redirects to the tunnel's URL")
    print(f"the browser was handed {handed[0]}, a page that redirects to {url}?token=…")
    with httpx.Client(trust_env=False, timeout=10) as client:
        status = client.get(f"{url}api/status", headers={"Authorization": f"token {token}"})
    print(f"GET {url}api/status through the tunnel: HTTP {status.status_code}")
    if status.status_code != 200:
        raise DemoError("the Jupyter server did not answer through the tunnel")

    demo.say("Close the tunnel: the forward and its ssh master go; the server stays")
    demo.jupyssh("tunnel", "jupyter", "-F", demo.config, demo.alias, "--stop")

    demo.say("The ssh config block that reaches an sshd behind jupyter-server-proxy")
    demo.jupyssh("tunnel", "ws-config", "hub-me", "https://hub.example/user/me/sshd/")


def _program(argv: list[str]) -> list[str]:
    import shutil
    import sys

    program = shutil.which("jupyssh")
    return (
        [program, *argv[1:]] if program else [sys.executable, "-m", "jupyssh.core.cli", *argv[1:]]
    )
