"""Resolution through the real `ssh -G` (a local program; nothing is contacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.core.ssh import JumpSpec, Resolver

pytestmark = pytest.mark.asyncio


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


async def test_alias_resolves_with_every_keyword(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        "Host lab\n  HostName 10.1.2.3\n  User alice\n  Port 2200\n"
        "  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n",
    )
    config = await Resolver(cfg).resolve("lab")
    assert (config.hostname, config.user, config.port) == ("10.1.2.3", "alice", 2200)
    assert config.identity_files == ("~/.ssh/a", "~/.ssh/b")
    assert config.config_file == cfg


async def test_chain_lists_hops_first_to_last(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        "Host target\n  HostName 10.0.0.9\n  ProxyJump mid\n"
        "Host mid\n  HostName 10.0.0.5\n  ProxyJump edge\n"
        "Host edge\n  HostName edge.example\n",
    )
    hops = await Resolver(cfg).chain("target")
    assert [hop.spec for hop in hops] == ["edge", "mid", "target"]
    assert [hop.config.hostname for hop in hops] == ["edge.example", "10.0.0.5", "10.0.0.9"]
    assert hops[-1].via == (JumpSpec("mid"),)


async def test_proxyjump_list_overrides_the_last_hops_own_jump(tmp_path: Path) -> None:
    # For `ProxyJump a,b` OpenSSH reaches b with `-J a`: b's own ProxyJump is not used.
    cfg = write_config(
        tmp_path,
        "Host t\n  ProxyJump a,u@b:2201\nHost b\n  ProxyJump elsewhere\nHost a\n  Port 2000\n",
    )
    hops = await Resolver(cfg).chain("t")
    assert [hop.spec for hop in hops] == ["a", "u@b:2201", "t"]
    assert hops[0].config.port == 2000
    assert (hops[1].config.user, hops[1].config.port) == ("u", 2201)
    assert hops[1].via == (JumpSpec("a"),)


async def test_one_ssh_g_per_distinct_hop(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "Host t\n  ProxyJump j\nHost u\n  ProxyJump j\n")
    resolver = Resolver(cfg)
    await resolver.chain("t")
    await resolver.chain("u")
    await resolver.chain("t")
    assert resolver.runs == 3  # t, j, u


async def test_loop_is_detected(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(ConfigError, match=r"ProxyJump loop: a -> b -> a"):
        await Resolver(cfg).chain("a")


async def test_bad_keyword_names_file_and_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "Host a\n  HostName x\n  NoSuchOption yes\n")
    with pytest.raises(ConfigError) as caught:
        await Resolver(cfg).resolve("a")
    assert caught.value.where == f"{cfg}:3"
    assert "nosuchoption" in caught.value.message.lower()


async def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Can't open user config file"):
        await Resolver(str(tmp_path / "absent")).resolve("a")


async def test_include_and_match_are_applied_by_ssh(tmp_path: Path) -> None:
    (tmp_path / "extra").write_text("Host inc\n  User from-include\n")
    cfg = write_config(
        tmp_path,
        f"Include {tmp_path}/extra\nMatch host inc\n  Port 2022\n",
    )
    config = await Resolver(cfg).resolve("inc")
    assert (config.user, config.port) == ("from-include", 2022)


async def test_hop_destination_carries_user_and_port(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "Host t\n  ProxyJump u@j:2222\n")
    hops = await Resolver(cfg).chain("alice@t")
    assert [hop.destination for hop in hops] == ["ssh://u@j:2222", "alice@t"]
    assert hops[1].config.user == "alice"
