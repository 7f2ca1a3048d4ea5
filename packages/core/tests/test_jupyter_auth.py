"""jupyssh.core.jupyter.auth: where a token comes from, and that no log line shows it."""

from __future__ import annotations

import logging

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter.auth import (
    REDACTED,
    RedactingFilter,
    RedactingLogger,
    authorization_headers,
    redact,
    resolve_token,
)

TOKEN = "f00dfeedc0ffee1234567890abcdef1234567890abcdef12"


# --- redact ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"http://h:1/lab?token={TOKEN}", f"http://h:1/lab?token={REDACTED}"),
        (f"http://h:1/?a=1&token={TOKEN}&b=2", f"http://h:1/?a=1&token={REDACTED}&b=2"),
        (f"http://h:1/?TOKEN={TOKEN}#x", f"http://h:1/?TOKEN={REDACTED}#x"),
        (f"open 'http://h/?token={TOKEN}' now", f"open 'http://h/?token={REDACTED}' now"),
        (f"Authorization: token {TOKEN}", f"Authorization: token {REDACTED}"),
        (f"> authorization: Bearer {TOKEN}", f"> authorization: Bearer {REDACTED}"),
        (f"{{'Authorization': 'token {TOKEN}'}}", f"{{'Authorization': 'token {REDACTED}'}}"),
        (
            f'{{"authorization": "token {TOKEN}", "x": 1}}',
            f'{{"authorization": "token {REDACTED}", "x": 1}}',
        ),
        ('< Set-Cookie: username-h="2|1:0|10:17|sig"; Path=/', f"< Set-Cookie: {REDACTED}"),
        ("Cookie: _xsrf=2|abc", f"Cookie: {REDACTED}"),
        ("nothing secret here: http://h:1/lab", "nothing secret here: http://h:1/lab"),
        ("tokenizer=1 token_count=2", "tokenizer=1 token_count=2"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_known_secrets() -> None:
    text = f"the kernel said {TOKEN} and {TOKEN[:8]}"
    assert redact(text, secrets=[TOKEN]) == f"the kernel said {REDACTED} and {TOKEN[:8]}"
    # a secret that contains another is replaced whole
    assert redact("abcdef", secrets=["abc", "abcdef"]) == REDACTED
    # an empty secret redacts nothing
    assert redact("abc", secrets=[""]) == "abc"


# --- authorization_headers -------------------------------------------------------------------


def test_authorization_headers() -> None:
    assert authorization_headers(TOKEN) == {"Authorization": f"token {TOKEN}"}
    assert authorization_headers(None) == {}


@pytest.mark.parametrize("bad", ["two words", "line\nbreak", "tab\t", "\r\nX-Evil: 1", "é"])
def test_authorization_headers_refuse_unsafe_tokens(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        authorization_headers(bad)
    assert bad not in str(info.value)


# --- resolve_token ---------------------------------------------------------------------------


def _never(_: str) -> str:
    raise AssertionError("must not prompt")


def test_token_order() -> None:
    env = {"JUPYTER_TOKEN": "from-env", "OTHER": "other-env"}
    assert resolve_token("from-url", token="explicit", environ=env, prompt=_never) == "explicit"
    assert resolve_token("from-url", environ=env, prompt=_never) == "from-url"
    assert resolve_token(None, environ=env, prompt=_never) == "from-env"
    assert resolve_token(None, environ=env, env_var="OTHER", prompt=_never) == "other-env"
    assert resolve_token(None, environ={"JUPYTER_TOKEN": "  spaced \n"}, prompt=_never) == "spaced"


def test_blank_sources_are_skipped() -> None:
    env = {"JUPYTER_TOKEN": "  "}
    assert (
        resolve_token("", token="", environ=env, prompt=lambda _: "typed", isatty=lambda: True)
        == "typed"
    )


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "process-env")
    assert resolve_token(prompt=_never) == "process-env"


def test_prompt_on_a_terminal() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return " typed-token\n"

    token = resolve_token(None, environ={}, prompt=prompt, isatty=lambda: True, where="http://h:1/")
    assert token == "typed-token"
    assert asked == ["Jupyter token for http://h:1/: "]


def test_never_prompt_without_a_terminal() -> None:
    with pytest.raises(ConfigError, match="stdin is not a terminal") as info:
        resolve_token(None, environ={}, prompt=_never, isatty=lambda: False, where="http://h:1/")
    assert "JUPYTER_TOKEN" in str(info.value)
    assert info.value.where == "http://h:1/"


def test_no_prompt_allowed() -> None:
    with pytest.raises(ConfigError, match="no prompt was allowed"):
        resolve_token(None, environ={}, env_var="MY_TOKEN", prompt=None, isatty=lambda: True)


def test_empty_answer() -> None:
    with pytest.raises(ConfigError, match="no Jupyter token entered"):
        resolve_token(None, environ={}, prompt=lambda _: "  ", isatty=lambda: True)


# --- logging ---------------------------------------------------------------------------------


def test_redacting_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("jupyssh.test.redacting_filter")
    handler_filter = RedactingFilter([TOKEN])
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            logger.info("GET %s", f"http://h/?token={TOKEN}")
            logger.debug("headers %r", {"Authorization": f"token {TOKEN}"})
            logger.warning("raw %s", TOKEN)
            logger.info("plain %d", 3)
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert TOKEN not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [
        f"GET http://h/?token={REDACTED}",
        f"headers {{'Authorization': 'token {REDACTED}'}}",
        f"raw {REDACTED}",
        "plain 3",
    ]
    assert TOKEN not in repr(handler_filter)


def test_redacting_logger(caplog: pytest.LogCaptureFixture) -> None:
    base = logging.getLogger("jupyssh.test.redacting_logger")
    adapter = RedactingLogger(base, [TOKEN])
    with caplog.at_level(logging.DEBUG, logger=base.name):
        # how websockets logs a handshake
        adapter.debug("> %s: %s", "Authorization", f"token {TOKEN}")
        adapter.debug("> GET %s HTTP/1.1", "/api/kernels/k/channels?session_id=s")
        adapter.info("%s", TOKEN)
        adapter.log(logging.WARNING, "no args")
    assert TOKEN not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [
        f"> Authorization: token {REDACTED}",
        "> GET /api/kernels/k/channels?session_id=s HTTP/1.1",
        REDACTED,
        "no args",
    ]
    assert adapter.isEnabledFor(logging.DEBUG) is base.isEnabledFor(logging.DEBUG)
    assert TOKEN not in repr(adapter)


def test_redacting_logger_skips_disabled_levels(caplog: pytest.LogCaptureFixture) -> None:
    base = logging.getLogger("jupyssh.test.redacting_logger_levels")

    class Loud:
        def __str__(self) -> str:
            raise AssertionError("formatted although the level is off")

    with caplog.at_level(logging.WARNING, logger=base.name):
        RedactingLogger(base).debug("%s", Loud())
    assert caplog.records == []
