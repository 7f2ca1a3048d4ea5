"""The rule registry: every rule code, what it checks, and the function that checks it.

Codes are stable and grouped by family (the hundreds digit). A rule is either a ``hop``
rule (run once per hop of the route), a ``config`` rule (run once per check), or a
``produced`` rule whose findings come from elsewhere (``ssh -G`` refusing the config, the
live ``--connect`` checks): those are registered too, so every code a report can carry is
listed, named and documented in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from jupyssh.sshconfig.context import CheckContext, HopContext, Make, finding_for
from jupyssh.sshconfig.findings import Finding, Role

__all__ = [
    "ALL_ROLES",
    "FAMILIES",
    "RULES",
    "Rule",
    "config_rule",
    "hop_rule",
    "named",
    "produced_rule",
    "rule_name",
    "run_rules",
]

FAMILIES: dict[str, str] = {
    "1": "host and identity",
    "2": "control master",
    "3": "liveness and keepalive",
    "4": "security",
    "5": "config files",
    "6": "live connection (--connect)",
}
ALL_ROLES = frozenset(Role)

Scope = Literal["hop", "config", "produced"]
#: A hop rule: ``(ctx, hop, make) -> findings``; ``make`` carries the rule's code and the hop.
HopCheck = Callable[[CheckContext, HopContext, Make], Iterable[Finding]]
#: A config rule: ``(ctx, make) -> findings``.
ConfigCheck = Callable[[CheckContext, Make], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule: its stable code and name, a one-line title, and where it applies."""

    code: str
    name: str
    title: str
    scope: Scope
    roles: frozenset[Role] = ALL_ROLES
    #: For hop rules: only the last hop (the alias itself), not the jump hosts.
    target_only: bool = False
    hop_check: HopCheck | None = None
    config_check: ConfigCheck | None = None

    @property
    def family(self) -> str:
        return FAMILIES[self.code[2]]


RULES: dict[str, Rule] = {}


def _register(rule: Rule) -> None:
    if not (len(rule.code) == 5 and rule.code.startswith("JS") and rule.code[2] in FAMILIES):
        raise ValueError(f"bad rule code {rule.code!r}")
    if rule.code in RULES:
        raise ValueError(f"rule code {rule.code} registered twice")
    if any(r.name == rule.name for r in RULES.values()):
        raise ValueError(f"rule name {rule.name!r} registered twice")
    RULES[rule.code] = rule


def hop_rule(
    code: str,
    name: str,
    title: str,
    *,
    roles: Iterable[Role] = ALL_ROLES,
    target_only: bool = False,
) -> Callable[[HopCheck], HopCheck]:
    """Register a function ``(ctx, hop, make) -> findings`` run for each hop."""

    def register(check: HopCheck) -> HopCheck:
        _register(Rule(code, name, title, "hop", frozenset(roles), target_only, hop_check=check))
        return check

    return register


def config_rule(
    code: str, name: str, title: str, *, roles: Iterable[Role] = ALL_ROLES
) -> Callable[[ConfigCheck], ConfigCheck]:
    """Register a function ``(ctx, make) -> findings`` run once per check."""

    def register(check: ConfigCheck) -> ConfigCheck:
        _register(Rule(code, name, title, "config", frozenset(roles), config_check=check))
        return check

    return register


def produced_rule(code: str, name: str, title: str, *, roles: Iterable[Role] = ALL_ROLES) -> None:
    """Register a code whose findings another part of the checker produces."""
    _register(Rule(code, name, title, "produced", frozenset(roles)))


def rule_name(code: str) -> str:
    return RULES[code].name


def named(finding: Finding) -> Finding:
    """``finding`` with its rule's name filled in (and its code checked)."""
    if finding.code not in RULES:
        raise KeyError(f"finding with unregistered code {finding.code}")
    return dataclasses.replace(finding, rule=RULES[finding.code].name)


def run_rules(ctx: CheckContext) -> list[Finding]:
    """Every registered rule that applies to the context's role, in code order."""
    findings: list[Finding] = []
    for code in sorted(RULES):
        rule = RULES[code]
        if ctx.role not in rule.roles:
            continue
        if rule.config_check is not None:
            findings += map(named, rule.config_check(ctx, finding_for(None, code)))
        if rule.hop_check is not None:
            for hop in ctx.hops:
                if rule.target_only and not hop.is_target:
                    continue
                findings += map(named, rule.hop_check(ctx, hop, finding_for(hop, code)))
    return findings
