"""JS6xx — live checks (``--connect``): each hop connects in BatchMode, the master answers.

The findings are produced by :mod:`jupyssh.sshconfig.connect`; the codes live here so
that every code is registered, listed by ``jupyssh sshconfig rules`` and documented.
"""

from __future__ import annotations

from jupyssh.sshconfig.findings import Role
from jupyssh.sshconfig.rules.registry import produced_rule

produced_rule("JS601", "connect", "The hop accepts a BatchMode login (with its time)")
produced_rule(
    "JS602",
    "control-master",
    "A control master starts and answers `ssh -O check`",
    roles=(Role.KERNEL, Role.CLIENT),
)
produced_rule("JS603", "connect-skipped", "A hop behind a failed hop is not tried")
