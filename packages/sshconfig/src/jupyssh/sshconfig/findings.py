"""What a check produces: findings (one fact each, with a rule code) gathered in a report.

Everything here is a frozen dataclass with a ``to_dict`` whose shape is the documented,
stable ``--json`` format (``docs/packages/sshconfig.md``, schema ``jupyssh.sshconfig/1``):
keys are only ever added, never renamed or removed, within one schema version.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jupyssh.core.cli import EXIT_FOUND_PROBLEMS, EXIT_OK

__all__ = [
    "SCHEMA",
    "ConnectResult",
    "Finding",
    "HopSummary",
    "Report",
    "Role",
    "Severity",
]

#: Name and version of the JSON document ``Report.to_dict`` produces.
SCHEMA = "jupyssh.sshconfig/1"


class Severity(str, enum.Enum):
    """How much a finding matters: ``error`` blocks the role, ``ok`` says a rule passed."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    OK = "ok"

    @property
    def rank(self) -> int:
        """0 for the worst (error) to 3 for ok; sorts findings worst first."""
        return _RANKS[self]

    def __str__(self) -> str:
        return self.value


_RANKS = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, Severity.OK: 3}


class Role(str, enum.Enum):
    """What the alias is for; each role asks different things of the config.

    ``kernel``: a remote Jupyter kernel, driven through a shared control master.
    ``tunnel``: a persistent forward (autossh, systemd) that must survive on its own.
    ``client``: plain interactive or scripted use (the default, least demanding).
    """

    KERNEL = "kernel"
    TUNNEL = "tunnel"
    CLIENT = "client"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One fact about the config: a rule's verdict for one hop (or the whole config).

    ``hop`` is the hop's spec as ssh reaches it (``bastion``, ``u@jump:2200``), or None for
    a finding about the config files themselves. ``value`` is what was seen (the option's
    value as ``ssh -G`` printed it, a path, a duration); ``where`` is a ``file:line`` or a
    path when one is known; ``fix`` says what to change, empty for ``ok`` findings.
    """

    code: str
    severity: Severity
    message: str
    hop: str | None = None
    value: str | None = None
    fix: str = ""
    where: str | None = None
    #: The rule's short name (``hostname-missing``); set from the registry.
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": self.severity.value,
            "hop": self.hop,
            "message": self.message,
            "value": self.value,
            "fix": self.fix,
            "where": self.where,
        }


@dataclass(frozen=True)
class ConnectResult:
    """What ``--connect`` saw for one hop: connected or not, how long it took, and why not."""

    ok: bool
    seconds: float | None
    #: The typed error's ``kind`` (``authentication``, ``connection-refused``, ...) or None.
    cause: str | None = None
    message: str = ""
    tried: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tried": self.tried,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "cause": self.cause,
            "message": self.message,
        }


@dataclass(frozen=True)
class HopSummary:
    """One hop of the route, as ``ssh -G`` resolved it (first hop first, the alias last)."""

    index: int
    spec: str
    hostname: str
    user: str | None
    port: int
    via: tuple[str, ...] = ()
    proxy_command: str | None = None
    control_path: str | None = None
    connect: ConnectResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "spec": self.spec,
            "hostname": self.hostname,
            "user": self.user,
            "port": self.port,
            "via": list(self.via),
            "proxy_command": self.proxy_command,
            "control_path": self.control_path,
            "connect": None if self.connect is None else self.connect.to_dict(),
        }


@dataclass(frozen=True)
class Report:
    """Everything one check found about one alias for one role."""

    alias: str
    role: Role
    config_file: str | None
    hops: tuple[HopSummary, ...]
    findings: tuple[Finding, ...]
    connected: bool = False
    #: How many times ``ssh -G`` ran for this report (one per distinct destination).
    ssh_g_runs: int = 0
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no finding is an error: the config will carry this role."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        return self.by_severity(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return self.by_severity(Severity.WARNING)

    @property
    def exit_status(self) -> int:
        """The command's exit status: 1 when any error was found, 0 otherwise."""
        return EXIT_OK if self.ok else EXIT_FOUND_PROBLEMS

    def by_severity(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is severity)

    def codes(self, severity: Severity | None = None) -> set[str]:
        """The rule codes present (optionally only at one severity): handy in tests."""
        return {f.code for f in self.findings if severity is None or f.severity is severity}

    def find(self, code: str, hop: str | None = None) -> tuple[Finding, ...]:
        """Every finding of rule ``code`` (optionally only for one hop)."""
        return tuple(f for f in self.findings if f.code == code and (hop is None or f.hop == hop))

    def counts(self) -> dict[str, int]:
        return {s.value: len(self.by_severity(s)) for s in Severity}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "alias": self.alias,
            "role": self.role.value,
            "config_file": self.config_file,
            "ok": self.ok,
            "exit_status": self.exit_status,
            "counts": self.counts(),
            "connected": self.connected,
            "hops": [hop.to_dict() for hop in self.hops],
            "findings": [finding.to_dict() for finding in self.findings],
            "ssh_g_runs": self.ssh_g_runs,
            "elapsed_seconds": round(self.elapsed_seconds, 4),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)


def sort_findings(findings: Iterable[Finding], hop_order: dict[str | None, int]) -> list[Finding]:
    """Config-level findings first, then hop by hop, then by code: a stable order."""
    return sorted(findings, key=lambda f: (hop_order.get(f.hop, -1), f.code, f.severity.rank))
