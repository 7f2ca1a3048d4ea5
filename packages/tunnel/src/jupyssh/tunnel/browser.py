"""Hand a URL to the user's browser, honouring ``$BROWSER`` (Python's ``webbrowser``)."""

from __future__ import annotations

import asyncio
import logging
import webbrowser

__all__ = ["open_in_browser"]

log = logging.getLogger(__name__)


async def open_in_browser(url: str) -> bool:
    """Open ``url`` in the browser; False when there is none (headless, WSL without one).

    Called by :func:`jupyssh.tunnel.jupyter.open_jupyter` once the server answered.
    ``webbrowser`` runs ``$BROWSER`` when set (each ``:``-separated command in turn) and
    waits for a console browser to end, hence the thread.
    """
    try:
        return await asyncio.to_thread(webbrowser.open, url, 2)
    except webbrowser.Error as exc:
        log.info("no browser to open: %s", exc)
        return False
