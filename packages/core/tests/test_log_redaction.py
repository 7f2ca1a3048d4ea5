"""Secrets in the forms other libraries log them, at ``-vvv`` (security finding 2).

httpcore logs response headers as a list of byte tuples, ``(b'Set-Cookie', b'…')``, and
httpx's ``Headers`` repr as a dict or a list of str tuples; jupyter_server answers a
token-authenticated request with a login cookie that is valid for 30 days.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jupyssh.core.log import configure_logging, redact
from jupyssh.core.testing import JSONHandler, serve_http, url_of

COOKIE = "username-127-0-0-1-8888=2|1:0|10:1765000000|23:username-127-0-0-1-8888|SECRETCOOKIE"
TOKEN = "SECRETTOKEN0123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"[(b'Server', b'TornadoServer/6.4'), (b'Set-Cookie', b'{COOKIE}; Path=/')]",
        f'[(b"Set-Cookie", b"{COOKIE}; expires=Thu, 01 Jan 2026 00:00:00 GMT")]',
        f"Headers({{'set-cookie': '{COOKIE}', 'server': 'TornadoServer'}})",
        f"Headers([('cookie', '{COOKIE}'), ('cookie', '_xsrf=2|SECRETCOOKIE')])",
        f"[(b'Authorization', b'token {TOKEN}'), (b'Host', b'127.0.0.1')]",
        f"{{'Authorization': 'Bearer {TOKEN}'}}",
    ],
)
def test_finding_2_tuple_and_dict_header_forms_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert "SECRETCOOKIE" not in cleaned
    assert TOKEN not in cleaned
    assert "<redacted>" in cleaned


class _CookieHandler(JSONHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Set-Cookie", f'{COOKIE}; expires="Thu, 01 Jan 2099"; Path=/')
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def cookie_server() -> Iterator[str]:
    with serve_http(_CookieHandler) as server:
        yield url_of(server, "/api/status")


@pytest.fixture
def at_vvv() -> Iterator[None]:
    """Logging as ``-vvv`` sets it, for this test only: left at DEBUG, the root logger
    would print debug lines into the stderr of whichever test runs next in this process."""
    configure_logging(3)
    yield
    configure_logging(0)


@pytest.mark.usefixtures("at_vvv")
def test_finding_2_login_cookie_is_not_logged_at_vvv(
    cookie_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real HTTP libraries, logging at -vvv through jupyssh's handler, as the CLI does."""
    headers = {"Authorization": f"token {TOKEN}"}
    with httpx.Client() as client:
        assert client.get(cookie_server, headers=headers).status_code == 200
    err = capsys.readouterr().err
    assert "receive_response_headers" in err, "httpcore no longer logs headers: test is blind"
    assert "SECRETCOOKIE" not in err
    assert TOKEN not in err
