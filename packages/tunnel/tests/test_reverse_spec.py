"""The reverse tunnel's ssh argv and systemd units, golden."""

from __future__ import annotations

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.tunnel.reverse.spec import (
    MARKER,
    TunnelSpec,
    parse_target,
    render_unit,
    systemd_quote,
)

OPTIONS = [
    "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=10", "-o", "BatchMode=yes",
    "-o", "ControlMaster=no", "-o", "ControlPath=none",
]  # fmt: skip


def _spec(**changes: object) -> TunnelSpec:
    fields: dict[str, object] = {
        "name": "lab",
        "via": "bastion",
        "remote_port": 2222,
        "user": "alice",
        "autossh_program": "/usr/bin/autossh",
    }
    fields.update(changes)
    return TunnelSpec(**fields)  # type: ignore[arg-type]


def test_ssh_argv_holds_every_required_option_and_no_clear_all_forwardings() -> None:
    spec = _spec(config_file="/home/alice/my config")
    assert spec.ssh_argv() == [
        "/usr/bin/ssh", "-N", "-F", "/home/alice/my config", *OPTIONS,
        "-R", "127.0.0.1:2222:127.0.0.1:22", "--", "bastion",
    ]  # fmt: skip
    assert spec.service_argv()[:3] == ["/usr/bin/autossh", "-M", "0"]
    assert spec.service_argv()[3:] == spec.ssh_argv()[1:]
    assert "ClearAllForwardings=yes" not in spec.ssh_argv()
    assert "-f" not in spec.ssh_argv()


def test_ipv6_targets_are_bracketed() -> None:
    spec = _spec(to_host="::1", to_port=8888, remote_bind="::1")
    assert spec.forward == "[::1]:2222:[::1]:8888"
    assert spec.probe_argv()[-4:] == ["-W", "[::1]:2222", "--", "bastion"]


@pytest.mark.parametrize(
    ("text", "target"),
    [("22", ("127.0.0.1", 22)), ("lab:8888", ("lab", 8888)), ("[::1]:22", ("::1", 22))],
)
def test_parse_target(text: str, target: tuple[str, int]) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["", "lab:", "lab:x", "lab:0", "a b:22", "lab:70000"])
def test_parse_target_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_target(text)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "../etc"},
        {"name": "a" * 41},
        {"via": "-oProxyCommand=x"},
        {"via": "two words"},
        {"remote_port": 0},
        {"keepalive": 0},
    ],
)
def test_bad_specs_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        _spec(**changes)


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("/usr/bin/ssh", "/usr/bin/ssh"),
        ("ControlPath=%h", "ControlPath=%%h"),
        ("$HOME", "$$HOME"),
        ("my config", '"my config"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ],
)
def test_systemd_quote(word: str, quoted: str) -> None:
    assert systemd_quote(word) == quoted


def test_system_unit_golden() -> None:
    unit = render_unit(_spec(config_file="/srv/cfg 100%"), scope="system")
    assert unit.splitlines() == [
        f"{MARKER}: reverse tunnel lab.",
        "# Remove with: jupyssh tunnel reverse remove lab",
        "[Unit]",
        "Description=jupyssh reverse tunnel lab (bastion port 2222 to 127.0.0.1:22)",
        "Wants=network-online.target",
        "After=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        "User=alice",
        "Environment=AUTOSSH_GATETIME=0",
        "Environment=AUTOSSH_POLL=10",
        'ExecStart=/usr/bin/autossh -M 0 -N -F "/srv/cfg 100%%" '
        + " ".join(OPTIONS)
        + " -R 127.0.0.1:2222:127.0.0.1:22 -- bastion",
        "Restart=always",
        "RestartSec=3",
        "NoNewPrivileges=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures=native",
        "CapabilityBoundingSet=",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]


def test_user_unit_has_no_user_no_network_target_and_plain_ssh_without_autossh() -> None:
    unit = render_unit(_spec(autossh_program=None), scope="user")
    assert "User=" not in unit
    assert "network-online.target" not in unit
    assert "CapabilityBoundingSet" not in unit
    assert "AUTOSSH" not in unit
    assert "ExecStart=/usr/bin/ssh -N " in unit
    assert "WantedBy=default.target" in unit
    with pytest.raises(ValueError, match="no unit"):
        render_unit(_spec(), scope="nohup")


def test_spec_round_trips_through_json() -> None:
    import json

    spec = _spec(extra={"IdentityFile": "/k"})
    assert TunnelSpec.from_dict(json.loads(spec.to_json())) == spec


_INJECTED = "\nExecStartPre=/bin/touch /tmp/pwned"


def _directives(unit: str) -> list[str]:
    return [line.split("=", 1)[0] for line in unit.splitlines() if "=" in line]


@pytest.mark.parametrize(
    "changes",
    [
        {"remote_bind": "127.0.0.1" + _INJECTED},
        {"remote_bind": "0.0.0.0 -oProxyCommand=x"},
        {"user": "alice" + _INJECTED},
        {"user": "al ice"},
        {"user": "-alice"},
        {"via": "bastion\x00x"},
        {"via": "bastion\x7f"},
        {"to_host": "h" + _INJECTED},
        {"config_file": "/srv/cfg" + _INJECTED},
        {"extra": {"IdentityFile": "/k" + _INJECTED}},
        {"extra": {"Ident\nity": "/k"}},
        {"ssh_program": "/usr/bin/ssh\rExecStartPost=/bin/sh"},
        {"autossh_program": "/usr/bin/autossh\x1bx"},
    ],
)
def test_finding_11_hostile_inputs_never_reach_a_unit(changes: dict[str, object]) -> None:
    """Each of these is refused before any unit is rendered (a newline would add a
    directive that systemd runs, as root in system scope)."""
    with pytest.raises(ConfigError):
        render_unit(_spec(**changes), scope="system")


@pytest.mark.parametrize("word", ["a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb", "a\u2028b"])
def test_finding_11_systemd_quote_refuses_control_characters(word: str) -> None:
    with pytest.raises(ConfigError, match="control character"):
        systemd_quote(word)


def test_finding_11_percent_is_escaped_everywhere_in_the_unit() -> None:
    spec = _spec(via="b%n", config_file="/srv/100%", extra={"ProxyJump": "j%h"})
    unit = render_unit(spec, scope="system")
    assert "(b%%n port 2222 to 127.0.0.1:22)" in unit
    # Every % left in the unit is part of a %% pair: systemd expands none of them.
    assert "%" not in unit.replace("%%", "")
    assert _directives(unit).count("ExecStart") == 1
    assert [d for d in _directives(unit) if d.startswith("ExecStart")] == ["ExecStart"]
