"""Scope choice and the registry of reverse tunnels, without systemd or a bastion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from jupyssh.tunnel import errors
from jupyssh.tunnel.errors import NoSystemdError, TunnelNotFoundError
from jupyssh.tunnel.reverse import choose_scope, list_tunnels, load_spec, manage, systemd


def _answers(system: bool, user: bool) -> Callable[[str], Awaitable[bool]]:
    async def manager_answers(scope: str) -> bool:
        return system if scope == "system" else user

    return manager_answers


@pytest.mark.parametrize(
    ("euid", "system", "user", "scope"),
    [
        (0, True, True, "system"),
        (0, False, True, "user"),
        (1000, True, True, "user"),
        (1000, True, False, "nohup"),
        (0, False, False, "nohup"),
    ],
)
@pytest.mark.asyncio
async def test_auto_scope(
    monkeypatch: pytest.MonkeyPatch, euid: int, system: bool, user: bool, scope: str
) -> None:
    monkeypatch.setattr(manage.os, "geteuid", lambda: euid)
    monkeypatch.setattr(systemd, "manager_answers", _answers(system, user))
    assert await choose_scope("auto") == scope


@pytest.mark.asyncio
async def test_an_explicit_scope_that_cannot_work_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(systemd, "manager_answers", _answers(False, False))
    monkeypatch.setattr(manage.os, "geteuid", lambda: 0)
    with pytest.raises(NoSystemdError, match="not PID 1"):
        await choose_scope("system")
    with pytest.raises(NoSystemdError, match="--scope nohup"):
        await choose_scope("user")
    monkeypatch.setattr(manage.os, "geteuid", lambda: 1000)
    with pytest.raises(manage.ConfigError, match="needs root"):
        await choose_scope("system")
    assert await choose_scope("nohup") == "nohup"


def test_an_empty_registry() -> None:
    assert list_tunnels() == []
    with pytest.raises(TunnelNotFoundError, match="no reverse tunnel named 'lab'"):
        load_spec("lab")


def test_error_class_names_end_in_error_and_old_names_still_import() -> None:
    from jupyssh import tunnel
    from jupyssh.tunnel import reverse as reverse_module

    for name in errors.__all__:
        assert name.endswith("Error")
    assert errors.TunnelExists is errors.TunnelExistsError
    assert errors.TunnelNotFound is errors.TunnelNotFoundError
    assert errors.NoJupyterServer is errors.NoJupyterServerError
    assert reverse_module.NoSystemd is errors.NoSystemdError
    assert reverse_module.NoLinger is errors.NoLingerError
    assert tunnel.TunnelExists is errors.TunnelExistsError
