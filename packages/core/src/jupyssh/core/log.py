"""Logging for every jupyssh package: one verbosity switch, and no secret in any line.

``-v`` shows what jupyssh does, ``-vv`` its debug detail, ``-vvv`` everything including
other libraries (paramiko, httpx, websockets) and tracebacks. Every handler jupyssh
installs carries :class:`RedactingFilter`, so a token that slips into a message or an
argument is masked before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "RedactingFilter", "configure_logging", "redact"]

#: What a secret is replaced with.
REDACTED = "<redacted>"

# ``token=VALUE`` in a URL query or a log line.
_TOKEN_PARAM = re.compile(r"(?i)(\btoken=)[^&#\s'\"<>]+")
# ``Authorization: token VALUE`` as a header line, inside a dict's repr, or as a header
# tuple (``(b'Authorization', b'token VALUE')``, as httpcore logs requests).
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=,]\s*b?['\"]?\s*(?:token|bearer|basic)\s+)[^\s'\",}]+"
)
# Cookies: jupyter_server answers a token-authenticated request with a signed login cookie.
_COOKIE_HEADER = re.compile(r"(?im)^([<> ]*(?:set-)?cookie:\s*)\S.*$")
# Cookies as other libraries log them: httpcore's byte tuples ``(b'Set-Cookie', b'…')``,
# httpx's ``Headers({'cookie': '…'})`` or list of tuples, and header dicts. The value is
# one quoted string literal, in either quote.
_HEADER_PAIR = re.compile(
    r"""(?ix)
    (b?(['"])(?:set-)?cookie\2\s*[,:]\s*b?)
    (['"])(?:\\.|(?!\3).)*\3
    """
)
# ``"key": "…"`` in a kernel's connection info (the HMAC key that signs its messages).
_KERNEL_KEY = re.compile(r"(?i)(['\"]key['\"]\s*:\s*['\"])[^'\"]+")


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets replaced by ``<redacted>``.

    Scrubs ``token=…`` (URL queries), ``Authorization: token|Bearer|Basic …`` (headers,
    header dicts), ``Cookie:``/``Set-Cookie:`` header lines (login cookies), the values of
    those headers in the tuple and dict forms HTTP libraries log (``(b'Set-Cookie', b'…')``,
    ``{'authorization': '…'}``), a kernel
    connection's ``"key": "…"``, and every literal occurrence of ``secrets``.
    """
    text = _HEADER_PAIR.sub(rf"\g<1>'{REDACTED}'", text)
    for pattern in (_TOKEN_PARAM, _AUTH_HEADER, _COOKIE_HEADER, _KERNEL_KEY):
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    # Longest first, so that a secret containing another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets in every record it sees.

    ``configure_logging`` attaches one to its handler, so that no log line, whoever wrote
    it, shows a token: the record's message is formatted and redacted once, its args
    dropped. ``secrets`` adds literal values to mask (a token known to the caller).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = frozenset(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, secrets=self.secrets)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True

    def __repr__(self) -> str:
        return f"RedactingFilter(<{len(self.secrets)} secrets>)"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to ``sys.stderr`` as it is when a record comes, not as it was
    when the handler was made: the CLI may run again in one process (tests, embedding
    applications) with stderr replaced, and a stream closed since must not swallow or
    garble a later warning."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


def configure_logging(verbosity: int) -> None:
    """Send log records to stderr at the level ``-v`` counts ask for (0 to 3)."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("jupyssh: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    ours = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    logging.getLogger("jupyssh").setLevel(ours)
