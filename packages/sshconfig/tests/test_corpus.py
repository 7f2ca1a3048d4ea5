"""The corpus: real config files run through the real ``ssh -G``, each with its expectations.

Each ``corpus/*.conf`` starts with ``# key: value`` lines that say what to check and what
must (or must not) be found; the rest is the config itself. ``@DIR@`` is the test's own
short folder and ``@KEYS@`` a folder of real keys (see ``conftest.Keys``). Nothing is
contacted: HostNames are documentation addresses or ``.invalid``, and DNS is faked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyssh.sshconfig import Report, Severity, check

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.conf"))


@dataclass
class Case:
    alias: str = ""
    role: str = "client"
    expects: list[tuple[str, str, str | None]] = field(default_factory=list)
    absents: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    clean: bool = False
    hops: list[str] | None = None
    runs: int | None = None
    dns: list[str] = field(default_factory=list)
    agent: list[str] = field(default_factory=list)
    agent_count: int = 0
    chmods: list[tuple[int, str]] = field(default_factory=list)
    mkdirs: list[str] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)
    sshdir: int | None = None
    wheres: list[tuple[str, str]] = field(default_factory=list)
    fixes: list[tuple[str, str]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)


def _opt(words: list[str], index: int) -> str | None:
    """``words[index]``, with ``*`` and absence both meaning "any"."""
    word = words[index] if len(words) > index else None
    return None if word == "*" else word


def _directive(case: Case, key: str, value: str) -> None:  # noqa: PLR0912 - one branch a key
    words = value.split()
    rest = value.split(None, 1)[1] if len(words) > 1 else ""
    if key == "check":
        case.alias, case.role = words[0], _opt(words, 1) or "client"
    elif key == "expect":
        case.expects.append((words[0], words[1], _opt(words, 2)))
    elif key == "absent":
        case.absents.append((words[0], _opt(words, 1), _opt(words, 2)))
    elif key == "hops":
        case.hops = words
    elif key == "runs":
        case.runs = int(words[0])
    elif key in ("dns", "agent"):
        getattr(case, key).extend(words)
    elif key == "agent-count":
        case.agent_count = int(words[0])
    elif key == "chmod":
        case.chmods.append((int(words[0], 8), _opt(words, 1) or "config"))
    elif key == "mkdir":
        case.mkdirs.append(words[0])
    elif key == "copy":
        case.copies.append((words[0], words[1]))
    elif key == "sshdir":
        case.sshdir = int(words[0], 8)
    elif key in ("where", "fix", "message"):
        getattr(case, f"{key}s" if key != "fix" else "fixes").append((words[0], rest))
    else:
        raise AssertionError(f"unknown corpus directive {key!r}")


def parse_case(text: str) -> Case:
    """The ``# key: value`` header of a corpus file (it ends at the first other line)."""
    case = Case()
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("# ").rstrip()
        if body == "clean":
            case.clean = True
            continue
        key, sep, value = body.partition(":")
        if sep and " " not in key:
            _directive(case, key, value.strip())
    return case


def _describe(report: Report) -> str:
    return "\n".join(
        f"  {f.code} {f.severity.value:7} {f.hop or '-':14} {f.message} [{f.where}] fix={f.fix!r}"
        for f in report.findings
    )


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line and not line.lstrip().startswith("#"):
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _setup(case: Case, source: Path, folder: Path, keys: Any) -> tuple[Path, Path]:
    def fill(text: str) -> str:
        return text.replace("@DIR@", str(folder)).replace("@KEYS@", str(keys.folder))

    (folder / "include").mkdir()
    for fragment in (CORPUS / "include").iterdir():
        target = folder / "include" / fragment.name
        target.write_text(fill(fragment.read_text()))
        target.chmod(0o600)
    config = folder / "config"
    config.write_text(fill(source.read_text()))
    config.chmod(0o600)
    for mode, name in case.chmods:
        (folder / name).chmod(mode)
    for name in case.mkdirs:
        (folder / name).mkdir(parents=True)
    for key, name in case.copies:
        shutil.copy(keys.path(key), folder / name)
        (folder / name).chmod(0o600)
    home = folder / "home"
    home.mkdir()
    if case.sshdir is not None:
        (home / ".ssh").mkdir()
        (home / ".ssh").chmod(case.sshdir)
    return config, home


def _assert_case(case: Case, report: Report, folder: Path, keys: Any) -> None:
    shown = _describe(report)

    def fill(text: str) -> str:
        return text.replace("@DIR@", str(folder)).replace("@KEYS@", str(keys.folder))

    for code, severity, hop in case.expects:
        hop_filter = None if hop is None else (None if hop == "-" else hop)
        found = [
            f
            for f in report.find(code)
            if f.severity.value == severity and (hop is None or f.hop == hop_filter)
        ]
        assert found, f"expected {code} {severity} {hop}; found:\n{shown}"
    for code, wanted, hop in case.absents:
        found = [f for f in report.find(code, hop) if wanted is None or f.severity.value == wanted]
        assert not found, f"expected no {code} {wanted or ''} {hop or ''}; found:\n{shown}"
    if case.clean:
        bad = [f for f in report.findings if f.severity in (Severity.ERROR, Severity.WARNING)]
        assert not bad, f"expected a clean report; found:\n{shown}"
    if case.hops is not None:
        assert [h.spec for h in report.hops] == case.hops, shown
    if case.runs is not None:
        assert report.ssh_g_runs == case.runs
    for code, spec in case.wheres:
        wheres = {f.where for f in report.find(code)}
        if spec == "-":
            assert wheres == {None}, f"{code}: {wheres}"
            continue
        name, needle = spec.split(None, 1)
        expected = f"{folder / name}:{_line_of(folder / name, needle)}"
        assert expected in wheres, f"{code}: expected {expected}, got {wheres}"
    for code, text in case.fixes:
        assert any(fill(text) in f.fix for f in report.find(code)), f"{code} fix {text!r}:\n{shown}"
    for code, text in case.messages:
        assert any(fill(text) in f.message for f in report.find(code)), f"{code} {text!r}:\n{shown}"


def test_the_corpus_is_large_enough() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("source", FILES, ids=[p.stem for p in FILES])
def test_corpus(source: Path, keys: Any, short_tmp: Path, probes: Any) -> None:
    case = parse_case(source.read_text())
    assert case.alias, f"{source.name} has no '# check:' line"
    config, home = _setup(case, source, short_tmp, keys)
    fake = probes(
        home,
        dns=case.dns,
        agent_fingerprints=[keys.fingerprints[name] for name in case.agent],
        agent_count=case.agent_count,
    )
    report = check(case.alias, case.role, config=str(config), probes=fake)
    _assert_case(case, report, short_tmp, keys)
    assert report.exit_status == (1 if report.errors else 0)
