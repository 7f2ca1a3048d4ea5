"""A throwaway HTTP server on 127.0.0.1 for unit tests (a fake Jupyter server's API).

``with serve_http(Handler) as server:`` serves ``Handler`` (a :class:`JSONHandler`
subclass, usually) on a free port of 127.0.0.1 from a thread, and stops it on leaving.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["JSONHandler", "serve_http", "url_of"]

# shutdown() waits for serve_forever to see its flag, which it reads once per interval:
# the standard 0.5 s made every test that stops a server half a second longer.
_POLL_S = 0.02


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing; subclasses write ``do_GET``."""

    def answer(self, status: int, body: object) -> None:
        """Send ``body`` as a JSON response with ``status``."""
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a test's output shows its own failures, not each request


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on 127.0.0.1 (a free port) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(_POLL_S,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def url_of(server: ThreadingHTTPServer, path: str = "/") -> str:
    """``http://127.0.0.1:PORT`` and ``path``: where ``server`` answers."""
    return f"http://127.0.0.1:{server.server_address[1]}{path}"
