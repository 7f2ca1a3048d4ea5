"""Dedicated blocks: what each role gets, what an earlier line overrides, safe appending."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.core.testing import run_cli
from jupyssh.sshconfig import Role, Severity, check, suggest_async, write_block

BASE = "Host lab\n    HostName 192.0.2.7\n    User u\n    IdentityFile {key}\n    ProxyJump j\n"


def _config(folder: Path, text: str) -> Path:
    path = folder / "config"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (Role.KERNEL, {"ControlMaster": "auto", "ControlPersist": "10m"}, {"ExitOnForwardFailure"}),
        (Role.TUNNEL, {"ControlPath": "none", "ExitOnForwardFailure": "yes"}, {"ControlPersist"}),
        (Role.CLIENT, {"ControlPath": "~/.ssh/cm-%C"}, {"BatchMode"}),
    ],
)
def test_each_role_gets_its_options(
    short_tmp: Path, keys: Any, role: Role, present: dict[str, str], absent: set[str]
) -> None:
    config = _config(short_tmp, BASE.format(key=keys.path("clear")))
    suggestion = asyncio.run(suggest_async("lab", role, str(config)))
    options = dict(suggestion.options)
    assert suggestion.name == f"lab-{role.value}"
    assert options["HostName"] == "192.0.2.7"
    assert options["User"] == "u"
    assert options["IdentityFile"] == keys.path("clear")
    assert options["ProxyJump"] == "j"
    for key, value in present.items():
        assert options[key] == value
    assert not absent & set(options)
    assert suggestion.overrides == ()
    assert suggestion.text.splitlines()[1] == f"Host lab-{role.value}"


def test_an_earlier_wildcard_override_is_reported(short_tmp: Path, keys: Any) -> None:
    config = _config(
        short_tmp, "Host *\n    ControlMaster no\n" + BASE.format(key=keys.path("clear"))
    )
    suggestion = asyncio.run(suggest_async("lab", "kernel", str(config)))
    (override,) = suggestion.overrides
    assert (override.keyword, override.wanted, override.actual) == (
        "ControlMaster",
        "auto",
        "false",
    )
    assert override.where == f"{config}:2"


def test_write_appends_after_a_backup_and_keeps_every_line(
    short_tmp: Path, keys: Any, probes: Any
) -> None:
    original = BASE.format(key=keys.path("clear")).rstrip("\n")  # no final newline
    config = _config(short_tmp, original)
    suggestion = asyncio.run(suggest_async("lab", "tunnel", str(config), name="lab-t"))
    result = write_block(suggestion, str(config))
    text = config.read_text()
    assert text.startswith(original + "\n\n# Added by jupyssh-sshconfig")
    assert result.backup is not None
    assert Path(result.backup).read_text() == original
    report = check("lab-t", Role.TUNNEL, config=str(config), probes=probes(short_tmp))
    assert report.find("JS208")[0].severity is Severity.OK
    assert report.find("JS304")[0].severity is Severity.OK
    with pytest.raises(ConfigError, match="already names lab-t") as refused:
        write_block(suggestion, str(config))
    assert refused.value.where is not None
    assert config.read_text() == text


def test_write_creates_a_private_config(short_tmp: Path, keys: Any) -> None:
    source = _config(short_tmp, BASE.format(key=keys.path("clear")))
    suggestion = asyncio.run(suggest_async("lab", "kernel", str(source)))
    target = short_tmp / "new" / "config"
    result = write_block(suggestion, str(target))
    assert result.backup is None
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("name", ["*", "lab-*", "lab?", "!lab", "a b", "", "-oProxyCommand=x"])
def test_finding_17_a_pattern_name_is_refused(short_tmp: Path, keys: Any, name: str) -> None:
    # `Host *` (or any pattern) as the new block's name would redirect every alias that
    # no earlier block names to this host: security review finding 17.
    config = _config(short_tmp, BASE.format(key=keys.path("clear")))
    before = config.read_text()
    with pytest.raises(ConfigError, match="one host name, not a pattern") as refused:
        asyncio.run(suggest_async("lab", "kernel", str(config), name=name))
    assert refused.value.where == repr(name)
    assert config.read_text() == before


def test_finding_17_the_cli_writes_nothing_for_a_pattern_name(
    short_tmp: Path, keys: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(short_tmp, BASE.format(key=keys.path("clear")))
    before = config.read_text()
    code, _, err = run_cli(
        capsys, "sshconfig", "suggest", "lab", "-F", str(config), "--name", "*", "--write"
    )
    assert code == 3
    assert err.startswith("jupyssh: error: --name must be one host name, not a pattern")
    assert config.read_text() == before
    assert list(short_tmp.glob("config.*")) == []  # no backup either


def test_a_pattern_alias_gives_no_pattern_name(short_tmp: Path, keys: Any) -> None:
    config = _config(short_tmp, "Host *\n    User u\n")
    with pytest.raises(ConfigError, match="not a pattern"):
        asyncio.run(suggest_async("*", "kernel", str(config)))
