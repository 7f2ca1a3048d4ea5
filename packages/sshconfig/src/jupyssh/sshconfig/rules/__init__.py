"""The rules, one module per family; importing this package registers every code.

| family | module | codes |
|---|---|---|
| host and identity | :mod:`.host` | JS101-JS113 |
| control master | :mod:`.control` | JS201-JS208 |
| liveness and keepalive | :mod:`.keepalive` | JS301-JS304 |
| security | :mod:`.security` | JS401-JS403 |
| config files | :mod:`.files` | JS501-JS508 |
| live connection | :mod:`.live_connection` | JS601-JS603 |
"""

from jupyssh.sshconfig.rules import control, files, host, keepalive, live_connection, security
from jupyssh.sshconfig.rules.registry import FAMILIES, RULES, Rule, named, run_rules

__all__ = ["FAMILIES", "RULES", "Rule", "named", "run_rules"]

# The family modules register their rules when imported.
_FAMILY_MODULES = (host, control, keepalive, security, files, live_connection)
