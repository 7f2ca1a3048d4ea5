"""``jupyssh hub serve``: its options, and the one line a service without its hub gets."""

from __future__ import annotations

import pytest

from jupyssh.core.testing import run_cli


def test_serve_without_the_hubs_token_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:8000/hub/api")

    code, out, err = run_cli(capsys, "hub", "serve", "--listen", "127.0.0.1:0")

    assert code == 3
    assert out == ""
    assert "JUPYTERHUB_API_TOKEN" in err
    assert len(err.strip().splitlines()) <= 2  # the line, and its hint


def test_serve_help_names_the_role_the_service_needs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "hub", "serve", "--help")

    assert code == 0
    text = " ".join(out.split())
    for scope in ("read:users:name", "read:servers", "servers", "access:servers"):
        assert scope in text
    assert "--hub-api-url" in text
    assert "--proxy-url" in text
