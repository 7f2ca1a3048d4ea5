"""jupyssh-sshconfig: tells exactly why an ssh config will or will not carry a remote
Jupyter kernel or tunnel.

``check(alias, role=…)`` resolves the alias with ``ssh -G`` hop by hop (ProxyJump), runs
every rule (codes ``JS1xx``-``JS6xx``, see ``docs/sshconfig-rules.md``) and returns a
:class:`Report`; ``check_async`` is its async twin. ``suggest_async`` builds a dedicated
``Host`` block for a role and ``write_block`` appends it safely. ``print_report`` shows
a report as the ``jupyssh sshconfig check`` table.
"""

from jupyssh.sshconfig._version import __version__
from jupyssh.sshconfig.checker import check, check_async
from jupyssh.sshconfig.context import Probes
from jupyssh.sshconfig.findings import (
    SCHEMA,
    ConnectResult,
    Finding,
    HopSummary,
    Report,
    Role,
    Severity,
)
from jupyssh.sshconfig.patterns import host_line_matches, match_pattern, match_pattern_list
from jupyssh.sshconfig.render import print_report, report_text
from jupyssh.sshconfig.rules import RULES, Rule
from jupyssh.sshconfig.suggest import Suggestion, WriteResult, suggest_async, write_block

__all__ = [
    "RULES",
    "SCHEMA",
    "ConnectResult",
    "Finding",
    "HopSummary",
    "Probes",
    "Report",
    "Role",
    "Rule",
    "Severity",
    "Suggestion",
    "WriteResult",
    "__version__",
    "check",
    "check_async",
    "host_line_matches",
    "match_pattern",
    "match_pattern_list",
    "print_report",
    "report_text",
    "suggest_async",
    "write_block",
]
