"""jupyssh-core's OpenSSH driver against plain ``ssh``, on one sshd container.

Baseline: plain ``ssh alias true``, first on a fresh connection each time
(``ControlPath=none``), what a tool that does not share connections pays, then riding a
warm control master. ``SSHHost.run`` is measured the same two ways: its own cost is the gap
to plain ssh in the same row. Resolution: ``ssh -G`` alone against ``Resolver.resolve``
(one ``ssh -G`` and the parse into a ``HostConfig``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import Context, run_quiet, ssh_host

from jupyssh.core.ssh import SSHHost
from jupyssh.core.ssh.resolve import Resolver

PLAIN = "plain ssh (baseline)"
JUPYSSH = "jupyssh-core"
#: ``timeout=None``: the command runs as it is, without the wrapper that lets a timeout
#: kill it on the host (jupyssh.core.ssh.stoppable); the gap to JUPYSSH is that wrapper.
UNBOUNDED = "jupyssh-core, timeout=None"


def run(ctx: Context) -> None:
    with ssh_host() as host, tempfile.TemporaryDirectory(prefix="jcm-", dir="/tmp") as cm:
        config = str(host.config_file)
        alias = host.alias
        fresh = ["ssh", "-F", config, "-o", "ControlMaster=no", "-o", "ControlPath=none"]
        ctx.record(
            "run `true`, fresh connection",
            PLAIN,
            ctx.measure(lambda: run_quiet([*fresh, alias, "true"])),
        )
        # No master listens at this path: each run connects anew, as above.
        with SSHHost(alias, config_file=config, control_path=str(Path(cm) / "none-%C")) as cold:
            ctx.record(
                "run `true`, fresh connection", JUPYSSH, ctx.measure(lambda: cold.run(["true"]))
            )
        control_path = str(Path(cm) / "cm-%C")
        with SSHHost(alias, config_file=config, control_path=control_path) as driver:
            driver.start_master()
            master = ["ssh", "-F", config, "-o", f"ControlPath={control_path}"]
            ctx.record(
                "run `true`, warm master",
                PLAIN,
                ctx.measure(lambda: run_quiet([*master, alias, "true"])),
            )
            ctx.record(
                "run `true`, warm master", JUPYSSH, ctx.measure(lambda: driver.run(["true"]))
            )
            ctx.record(
                "run `true`, warm master",
                UNBOUNDED,
                ctx.measure(lambda: driver.run(["true"], timeout=None)),
            )
        ctx.record(
            "resolve alias",
            PLAIN,
            ctx.measure(lambda: run_quiet(["ssh", "-F", config, "-G", alias])),
        )
        ctx.record(
            "resolve alias",
            JUPYSSH,
            ctx.measure_async(lambda: Resolver(config).resolve(alias)),
        )
    for metric in ("run `true`, fresh connection", "run `true`, warm master", "resolve alias"):
        plain, ours = ctx.figure(metric, PLAIN).median, ctx.figure(metric, JUPYSSH).median
        ctx.note(f"{metric}: jupyssh-core adds {(ours - plain) * 1000:+.1f} ms to plain ssh")
    wrapper = (
        ctx.figure("run `true`, warm master", JUPYSSH).median
        - ctx.figure("run `true`, warm master", UNBOUNDED).median
    )
    ctx.note(f"the kill-on-timeout wrapper costs {wrapper * 1000:+.1f} ms a command")
    fresh_median = ctx.figure("run `true`, fresh connection", PLAIN).median
    warm_median = ctx.figure("run `true`, warm master", JUPYSSH).median
    ctx.note(f"a command on the warm master costs {warm_median / fresh_median:.2f} of a fresh one")
    ctx.target(
        "jupyssh-core overhead on a warm master",
        warm_median - ctx.figure("run `true`, warm master", PLAIN).median,
        0.02,
        unit="s",
    )
