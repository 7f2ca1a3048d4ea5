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

__all__ = ["RedactingFilter", "configure_logging", "redact"]

_MASK = "<redacted>"
# token=… in URLs and query strings, "Authorization: token …"/"Bearer …" headers, and
# "key": "…" in kernel connection info.
_SECRETS = (
    re.compile(r"(?i)(\btoken=)[^&\s'\"]+"),
    re.compile(r"(?i)(\bauthorization['\"]?\s*:?\s*['\"]?\s*(?:token|bearer)\s+)[^\s'\"]+"),
    re.compile(r"(?i)(['\"]key['\"]\s*:\s*['\"])[^'\"]+"),
)


def redact(text: str) -> str:
    """``text`` with every token, authorization header and kernel key masked."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in the fully formatted message of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(verbosity: int) -> None:
    """Send log records to stderr at the level ``-v`` counts ask for (0 to 3)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("jupyssh: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_jupyssh", False)]:
        root.removeHandler(old)
    handler._jupyssh = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    ours = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    logging.getLogger("jupyssh").setLevel(ours)
