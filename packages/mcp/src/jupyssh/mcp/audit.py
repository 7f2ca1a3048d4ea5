"""Every tool call logged with its arguments, and no secret in a log line or a result.

The audit log is a file of the user's (0600, in jupyssh's state folder by default) so that
what an agent did can be read afterwards whatever the server's verbosity. Arguments and
results pass through :func:`jupyssh.core.log.redact` (tokens, Authorization headers,
cookies, a kernel's key) before they are written or returned.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyssh.core.log import RedactingFilter, redact
from jupyssh.core.paths import make_private_dirs

__all__ = ["AUDIT_LOGGER", "log_call", "open_audit_log", "redact_value", "remember_secret"]

AUDIT_LOGGER = "jupyssh.mcp.audit"
audit = logging.getLogger(AUDIT_LOGGER)
#: Secrets the server knows literally (a listed Jupyter server's token, the HTTP token):
#: masked wherever they appear, whatever their form (a file holding one, a message).
_SECRETS: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Mask ``value`` in every later result and audit line; called where the server reads
    a secret of the user's."""
    if value:
        _SECRETS.add(value)


def redact_value(value: Any) -> Any:
    """``value`` (a JSON-able result or argument) with every string redacted."""
    if isinstance(value, str):
        return redact(value, secrets=_SECRETS)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value


def log_call(tool: str, arguments: Mapping[str, Any], outcome: str) -> None:
    """One line per call: the tool, its JSON-able arguments (redacted; a long one, such as
    a file's content, shortened to its start and size), what came of it."""
    shown = {k: _short(redact_value(v)) for k, v in arguments.items() if _jsonable(v)}
    audit.info(
        "%s %s -> %s",
        tool,
        json.dumps(shown, sort_keys=True),
        redact(outcome, secrets=_SECRETS),
    )


#: Characters of an argument the audit line keeps (a file written, a job script).
_KEEP = 200


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _KEEP:
        return f"{value[:_KEEP]}... [{len(value)} characters]"
    return value


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def open_audit_log(path: Path) -> logging.Handler:
    """Append the audit log to ``path`` (created 0600 in a 0700 folder); returns the
    handler, which the caller removes and closes when the server stops."""
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    handler.addFilter(RedactingFilter())
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    return handler
