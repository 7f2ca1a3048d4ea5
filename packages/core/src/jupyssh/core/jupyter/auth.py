"""The Jupyter token: where it comes from, how it travels, and keeping it out of logs.

A token comes, in this order, from the caller, from the URL the user pasted, from an
environment variable (``JUPYTER_TOKEN`` unless told otherwise), or from a prompt on a
terminal. It travels only in the ``Authorization: token …`` header of HTTP requests and
of the kernel WebSocket handshake: never in a URL, never in argv, never in a log line.

``jupyssh.core.log.redact`` is the one function that scrubs text that might hold a token
(a URL with ``?token=``, a header dump); ``RedactingFilter`` applies it to log records
(both re-exported here) and ``RedactingLogger`` to libraries (websockets) that log
handshake headers at DEBUG.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jupyssh.core.errors import ConfigError
from jupyssh.core.log import REDACTED, RedactingFilter, redact

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "REDACTED",
    "RedactingFilter",
    "RedactingLogger",
    "authorization_headers",
    "redact",
    "resolve_token",
]

#: The environment variable a token is read from unless the caller names another.
DEFAULT_TOKEN_ENV = "JUPYTER_TOKEN"  # noqa: S105 - a variable name, not a secret
# A token is sent in a header: control characters would split or forge headers.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def authorization_headers(token: str | None) -> dict[str, str]:
    """The HTTP headers that carry ``token``; none without one.

    Raises ``ConfigError`` for a token that could not travel in a header (spaces, control
    characters): it was pasted wrong, and sending it would break or forge headers.
    """
    if token is None:
        return {}
    if not _HEADER_SAFE.fullmatch(token):
        raise ConfigError(
            "the Jupyter token holds spaces or control characters",
            hint="paste only the token, the text after ?token= in the server's URL",
        )
    return {"Authorization": f"token {token}"}


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def resolve_token(
    url_token: str | None = None,
    *,
    token: str | None = None,
    env_var: str = DEFAULT_TOKEN_ENV,
    environ: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] | None = getpass.getpass,
    isatty: Callable[[], bool] = _stdin_is_tty,
    where: str | None = None,
) -> str:
    """Find the token for a Jupyter server, asking the user only as a last resort.

    Order: ``token`` (the caller's, e.g. a ``--token`` option), ``url_token`` (from
    ``parse_server_url``), ``environ[env_var]`` (``os.environ`` by default), then
    ``prompt("Jupyter token for <where>: ")`` — but only when stdin is a terminal, so that
    scripts and services fail at once instead of hanging. ``prompt=None`` never asks.

    Raises ``ConfigError`` saying where a token can be given when none is found.
    """
    for candidate in (token, url_token, (os.environ if environ is None else environ).get(env_var)):
        if candidate and candidate.strip():
            return candidate.strip()
    hint = f"add ?token=… to the URL or set {env_var}"
    if prompt is None or not isatty():
        reason = "no prompt was allowed" if prompt is None else "stdin is not a terminal"
        raise ConfigError(
            f"no Jupyter token given and {reason} to ask for one", where=where, hint=hint
        )
    answer = prompt(f"Jupyter token for {where or 'the server'}: ").strip()
    if not answer:
        raise ConfigError("no Jupyter token entered", where=where, hint=hint)
    return answer


if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter  # subscriptable at runtime only from Python 3.11


class RedactingLogger(_Adapter):
    """A logger for third-party code that redacts what it logs.

    websockets logs every handshake header (``Authorization`` included) at DEBUG to the
    logger it is given; ``KernelConnection`` gives it one of these instead.
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str] = ()) -> None:
        super().__init__(logger, {})
        self._secrets = frozenset(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self.logger.log(level, "%s", redact(text, secrets=self._secrets), **kwargs)

    def __repr__(self) -> str:
        return f"RedactingLogger({self.logger.name!r})"
