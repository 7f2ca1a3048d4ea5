"""The checker as a whole: cost in ssh -G runs, the JSON contract, the rule registry."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from jupyssh.core.ssh import Resolver
from jupyssh.sshconfig import RULES, SCHEMA, Role, Severity, check, check_async, report_text

DOCS = Path(__file__).resolve().parents[3] / "docs"

THREE_HOPS = """\
Host target
    HostName 10.0.0.9
    User alice
    ProxyJump mid
    ControlMaster auto
    ControlPath {dir}/cm-%C
    ControlPersist 10m
Host mid
    HostName 10.0.0.5
    User m
    ProxyJump edge
Host edge
    HostName 192.0.2.50
    User e
Host target mid edge
    IdentityFile {keys}/clear
    BatchMode yes
"""


def _three_hops(folder: Path, keys: Any) -> Path:
    config = folder / "config"
    config.write_text(THREE_HOPS.format(dir=folder, keys=keys.folder))
    config.chmod(0o600)
    return config


@pytest.mark.asyncio
async def test_one_ssh_g_per_hop_whatever_the_rules(
    short_tmp: Path, keys: Any, probes: Any
) -> None:
    config = _three_hops(short_tmp, keys)
    resolver = Resolver(str(config))
    fake = probes(short_tmp)
    for role in Role:
        report = await check_async(
            "target", role, config=str(config), resolver=resolver, probes=fake
        )
        assert [h.spec for h in report.hops] == ["edge", "mid", "target"]
    assert resolver.runs == 3  # three roles, every rule, still one ssh -G per hop
    assert len(RULES) > 30


def test_three_hop_check_is_fast(short_tmp: Path, keys: Any, probes: Any) -> None:
    config = _three_hops(short_tmp, keys)
    started = time.perf_counter()
    report = check("target", Role.KERNEL, config=str(config), probes=probes(short_tmp))
    elapsed = time.perf_counter() - started
    assert report.ssh_g_runs == 3
    print(f"three-hop check: {elapsed * 1000:.1f} ms")
    assert elapsed < 5  # generous bound for loaded CI machines; typical is ~20 ms


def test_json_document_is_stable(short_tmp: Path, keys: Any, probes: Any) -> None:
    config = _three_hops(short_tmp, keys)
    report = check("target", "kernel", config=str(config), probes=probes(short_tmp))
    document = json.loads(report.to_json())
    assert set(document) == {
        "schema",
        "alias",
        "role",
        "config_file",
        "ok",
        "exit_status",
        "counts",
        "connected",
        "hops",
        "findings",
        "ssh_g_runs",
        "elapsed_seconds",
    }
    assert document["schema"] == SCHEMA == "jupyssh.sshconfig/1"
    assert set(document["counts"]) == {"error", "warning", "info", "ok"}
    assert set(document["hops"][0]) == {
        "index",
        "spec",
        "hostname",
        "user",
        "port",
        "via",
        "proxy_command",
        "control_path",
        "connect",
    }
    assert document["hops"][2]["via"] == ["mid"]
    for finding in document["findings"]:
        assert set(finding) == {
            "code",
            "rule",
            "severity",
            "hop",
            "message",
            "value",
            "fix",
            "where",
        }
        assert finding["rule"] == RULES[finding["code"]].name
        assert finding["severity"] in {"error", "warning", "info", "ok"}
    assert document["ok"] is (document["counts"]["error"] == 0)


def test_findings_are_ordered_config_first_then_hop_by_hop(
    short_tmp: Path, keys: Any, probes: Any
) -> None:
    config = _three_hops(short_tmp, keys)
    report = check("target", "kernel", config=str(config), probes=probes(short_tmp))
    hops = [f.hop for f in report.findings]
    order = {None: 0, "edge": 1, "mid": 2, "target": 3}
    assert [order[h] for h in hops] == sorted(order[h] for h in hops)


def test_human_text_carries_the_same_facts(short_tmp: Path, keys: Any, probes: Any) -> None:
    config = _three_hops(short_tmp, keys)
    report = check("target", "kernel", config=str(config), probes=probes(short_tmp))
    text = report_text(report, width=200, show_ok=True)
    for finding in report.findings:
        assert finding.code in text
    assert "1. edge: e@192.0.2.50:22" in text
    assert "3. target: alice@10.0.0.9:22 via mid" in text


def test_missing_config_file(short_tmp: Path, probes: Any) -> None:
    report = check("lab", config=str(short_tmp / "absent"), probes=probes(short_tmp))
    assert report.codes(Severity.ERROR) == {"JS507"}
    assert report.hops == ()
    assert report.exit_status == 1


def test_dns_probe_is_bounded_in_time(short_tmp: Path, keys: Any) -> None:
    from jupyssh.sshconfig import Probes

    def slow(_name: str) -> bool:
        time.sleep(3)
        return True

    config = short_tmp / "config"
    config.write_text(f"Host lab\n  HostName slow.invalid\n  IdentityFile {keys.folder}/clear\n")
    started = time.perf_counter()
    report = check(
        "lab", config=str(config), probes=Probes(resolve_name=slow, dns_timeout=0.2, home=short_tmp)
    )
    assert time.perf_counter() - started < 2
    (finding,) = report.find("JS102")
    assert finding.severity is Severity.WARNING
    assert "did not resolve within 0.2 s" in finding.message


@pytest.mark.asyncio
async def test_blocking_check_refuses_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="check_async"):
        check("lab")
    await asyncio.sleep(0)


def test_rule_codes_are_well_formed_and_grouped() -> None:
    for code, rule in RULES.items():
        assert re.fullmatch(r"JS[1-6]\d\d", code)
        assert rule.code == code
        assert rule.title
        assert rule.name
        assert rule.family
    assert len({rule.name for rule in RULES.values()}) == len(RULES)


def test_every_rule_is_documented() -> None:
    page = (DOCS / "sshconfig-rules.md").read_text()
    for code, rule in RULES.items():
        assert re.search(rf"^## {code} `{rule.name}`", page, re.MULTILINE), code
        section = page.split(f"## {code} ", 1)[1].split("\n## ", 1)[0]
        for part in ("Why it matters", "What ssh does without it", "How to fix it"):
            assert part in section, f"{code}: {part}"


BROKEN_TWIN = """
Host edge-broken
    HostName 192.0.2.1
    User u
    IdentityFile {dir}/no-such-key
    IdentitiesOnly yes
    BatchMode yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    ControlMaster yes
    ControlPath {dir}/no-such-folder/cm-%C
    ControlPersist no
"""


def test_the_common_mistakes_fail_a_kernel_host(short_tmp: Path, keys: Any) -> None:
    # The same mistakes as the demo's broken twin (jupyssh_harness.demos.sshconfig).
    config = _three_hops(short_tmp, keys)
    config.write_text(config.read_text() + BROKEN_TWIN.format(dir=short_tmp))
    report = check("edge-broken", "kernel", config=str(config))
    assert {"JS105", "JS201", "JS204", "JS206"} <= report.codes(Severity.ERROR)
    assert {"JS401", "JS402"} <= report.codes(Severity.WARNING)
    assert report.exit_status == 1
    assert check("target", "kernel", config=str(config)).ssh_g_runs == 3
