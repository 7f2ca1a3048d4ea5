"""Parsing of `ssh -G` output and ProxyJump values."""

from __future__ import annotations

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.core.ssh import HostConfig, JumpSpec, parse_jump_specs, parse_ssh_g

SAMPLE = """\
user sandbox
hostname 127.0.0.1
port 2222
batchmode yes
controlmaster auto
controlpath /run/user/1000/jupyssh/cm-1afc0df7338d9f2f64e46a25f5cc0bf81c881629
controlpersist 600
identityfile ~/.ssh/id_ed25519
identityfile ~/.ssh/lab key
localforward 8080 [localhost]:80
localforward 9090 /run/jupyter.sock
proxyjump bastion,u@gw:2200
proxycommand none
"""


def test_every_keyword_becomes_a_tuple_in_order() -> None:
    options = parse_ssh_g(SAMPLE)
    assert options["user"] == ("sandbox",)
    assert options["identityfile"] == ("~/.ssh/id_ed25519", "~/.ssh/lab key")
    assert options["localforward"] == ("8080 [localhost]:80", "9090 /run/jupyter.sock")


def test_blank_lines_and_case_are_tolerated() -> None:
    assert parse_ssh_g("\nUser a\n\n") == {"user": ("a",)}


def test_host_config_properties() -> None:
    config = HostConfig("lab", parse_ssh_g(SAMPLE))
    assert (config.user, config.hostname, config.port) == ("sandbox", "127.0.0.1", 2222)
    assert config.batch_mode is True
    assert config.control_master == "auto"
    assert config.control_path is not None
    assert config.control_path.endswith("cm-1afc0df7338d9f2f64e46a25f5cc0bf81c881629")
    assert config.proxy_command is None
    assert config.proxy_jump == (JumpSpec("bastion"), JumpSpec("gw", "u", 2200))
    assert config.get("nosuchkey", "x") == "x"
    assert config.get_all("nosuchkey") == ()


def test_defaults_when_keywords_are_absent() -> None:
    config = HostConfig("bare", {})
    assert (config.hostname, config.port, config.user) == ("bare", 22, None)
    assert config.control_path is None
    assert config.proxy_jump == ()
    assert config.batch_mode is False


def test_to_dict_is_json_ready() -> None:
    data = HostConfig("lab", parse_ssh_g(SAMPLE), config_file="/cfg").to_dict()
    assert data["options"]["identityfile"] == ["~/.ssh/id_ed25519", "~/.ssh/lab key"]
    assert data["port"] == 2222
    assert data["config_file"] == "/cfg"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", ()),
        ("", ()),
        ("bastion", (JumpSpec("bastion"),)),
        ("u@b:2200", (JumpSpec("b", "u", 2200),)),
        ("ssh://u@b:2200", (JumpSpec("b", "u", 2200),)),
        ("ssh://b/", (JumpSpec("b"),)),
        ("a, b ,c", (JumpSpec("a"), JumpSpec("b"), JumpSpec("c"))),
        ("[::1]:2022", (JumpSpec("::1", None, 2022),)),
        ("first.last@host.example", (JumpSpec("host.example", "first.last"),)),
    ],
)
def test_jump_specs(value: str, expected: tuple[JumpSpec, ...]) -> None:
    assert parse_jump_specs(value) == expected


@pytest.mark.parametrize("value", ["a@", "host:port", "a,,b", "u@h:22:33"])
def test_bad_jump_specs_name_the_entry(value: str) -> None:
    with pytest.raises(ConfigError, match="ProxyJump entry"):
        parse_jump_specs(value)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (JumpSpec("b"), "b"),
        (JumpSpec("b", "u", 2200), "u@b:2200"),
        (JumpSpec("::1", None, 2022), "[::1]:2022"),
    ],
)
def test_jump_spec_round_trips(spec: JumpSpec, text: str) -> None:
    assert str(spec) == text
    assert parse_jump_specs(text) == (spec,)


@pytest.mark.parametrize(
    ("destination", "spec", "ssh_form"),
    [
        ("lab", JumpSpec("lab"), "lab"),
        ("alice@lab", JumpSpec("lab", "alice"), "alice@lab"),
        ("ssh://alice@lab:2222", JumpSpec("lab", "alice", 2222), "ssh://alice@lab:2222"),
        ("lab:2222", JumpSpec("lab:2222"), "lab:2222"),
    ],
)
def test_destinations_parse_as_ssh_reads_them(
    destination: str, spec: JumpSpec, ssh_form: str
) -> None:
    assert JumpSpec.from_destination(destination) == spec
    assert spec.destination == ssh_form
