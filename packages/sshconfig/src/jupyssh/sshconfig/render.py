"""The human view of a report: the route, then one table row per finding.

It shows the same facts as ``--json`` (code, severity, hop, message, value seen, where,
fix); only the layout differs: passed checks are listed by code (``-v`` gives each a row).
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from jupyssh.sshconfig.findings import Finding, HopSummary, Report, Severity

__all__ = ["print_report", "report_text"]

_STYLE = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
    Severity.OK: "green",
}
_MARK = {Severity.ERROR: "x", Severity.WARNING: "!", Severity.INFO: "i", Severity.OK: "v"}


def _hop_line(hop: HopSummary) -> str:
    line = f"{hop.index}. {hop.spec}: {hop.user or '?'}@{hop.hostname}:{hop.port}"
    if hop.via:
        line += f" via {','.join(hop.via)}"
    if hop.proxy_command:
        line += f" (ProxyCommand {hop.proxy_command})"
    if hop.connect is not None:
        result = hop.connect
        if result.ok and result.seconds is not None:
            line += f"  [connected in {result.seconds:.2f} s]"
        elif result.tried:
            line += f"  [failed: {result.cause}]"
        else:
            line += "  [not tried]"
    return line


def _summary(report: Report) -> Text:
    counts = report.counts()
    verdict = (
        Text("will carry it", style="bold green")
        if report.ok
        else Text("will NOT carry it", style="bold red")
    )
    text = Text(f"{report.alias} for the {report.role} role: ")
    text.append_text(verdict)
    text.append(
        f"  ({counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes, "
        f"{counts['ok']} passed; {report.ssh_g_runs} ssh -G, {report.elapsed_seconds:.2f} s)"
    )
    return text


def _message(finding: Finding) -> str:
    text = finding.message
    if finding.value and finding.value not in text:
        text += f" (seen: {finding.value})"
    if finding.where:
        text += f" [{finding.where}]"
    return text


def _table(findings: list[Finding]) -> Table:
    table = Table(expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("hop", overflow="fold")
    table.add_column("finding", ratio=3, overflow="fold")
    table.add_column("fix", ratio=2, overflow="fold")
    for finding in findings:
        table.add_row(
            Text(f"({_MARK[finding.severity]}) {finding.severity}", style=_STYLE[finding.severity]),
            finding.code,
            finding.hop or "(config)",
            Text(_message(finding), style="dim" if finding.severity is Severity.OK else ""),
            finding.fix,
        )
    return table


def _passed(report: Report) -> list[Text]:
    by_hop: dict[str, list[str]] = {}
    for finding in report.by_severity(Severity.OK):
        by_hop.setdefault(finding.hop or "(config)", []).append(finding.code)
    return [
        Text(f"  (v) passed for {hop}: {' '.join(codes)}", style="green")
        for hop, codes in by_hop.items()
    ]


def print_report(report: Report, console: Console | None = None, *, show_ok: bool = False) -> None:
    """Print the route, the findings and the verdict to ``console`` (stdout).

    Passed checks are listed by code unless ``show_ok``, which gives each its own row.
    """
    console = console or Console(highlight=False)
    config = report.config_file or "~/.ssh/config"
    console.print(Text(f"ssh config check of {report.alias} ({config})", style="bold"))
    for hop in report.hops:
        console.print(Text("  " + _hop_line(hop)))
    rows = [f for f in report.findings if show_ok or f.severity is not Severity.OK]
    if rows:
        console.print(_table(rows))
    if not show_ok:
        for line in _passed(report):
            console.print(line)
    console.print(_summary(report))


def report_text(report: Report, *, width: int = 120, show_ok: bool = False) -> str:
    """The same view as plain text (no colour), e.g. for a demo script or a log."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    print_report(report, console, show_ok=show_ok)
    return buffer.getvalue()
