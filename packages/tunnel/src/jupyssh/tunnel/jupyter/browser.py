"""Hand a tokened URL to the user's browser without putting the token in any argv.

A browser is started with the URL as an argument, where every local user can read it
(``ps``, ``/proc/PID/cmdline``), and the token in it gives the forward on 127.0.0.1, hence
code execution as the user on the remote host. So, as ``jupyter server`` does with its
``jpserver-PID-open.html``, the URL goes into a small HTML page that redirects to it,
written 0600 in a private (0700) folder, and the browser opens ``file://`` of that page.
The page is removed when the tunnel is closed (``tunnel jupyter --stop``).
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import webbrowser
from pathlib import Path

from jupyssh.core.paths import ensure_private_dir

__all__ = ["open_in_browser", "write_redirect_page"]

log = logging.getLogger(__name__)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={url}">
<title>Opening Jupyter</title>
</head>
<body>
<p>This page opens the Jupyter server behind the tunnel.
If nothing happens, <a href="{url}">go to Jupyter</a>.</p>
</body>
</html>
"""


def write_redirect_page(path: Path, url: str) -> Path:
    """Write a page at ``path`` (0600, its folder 0700) that sends the browser to ``url``.

    Any earlier file there is replaced; the new one is created exclusively and without
    following a symlink, so nothing planted at that name receives the token.
    """
    ensure_private_dir(path.parent)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(_PAGE.format(url=html.escape(url, quote=True)))
    return path


async def open_in_browser(url: str, page: Path) -> bool:
    """Open ``url`` in the browser through the redirect page ``page``; False when there is
    no browser (headless, WSL without one). The page stays for the user to open by hand.

    Called by :func:`jupyssh.tunnel.jupyter.open_jupyter` once the server answered.
    ``webbrowser`` runs ``$BROWSER`` when set (each ``:``-separated command in turn) and
    waits for a console browser to end, hence the thread.
    """
    write_redirect_page(page, url)
    try:
        return await asyncio.to_thread(webbrowser.open, page.as_uri(), 2)
    except webbrowser.Error as exc:
        log.info("no browser to open: %s", exc)
        return False
