"""OpenSSH host patterns: examples, properties, and agreement with ``ssh -G`` itself."""

from __future__ import annotations

import fnmatch
import itertools
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyssh.sshconfig.patterns import (
    has_wildcard,
    host_line_matches,
    match_pattern,
    match_pattern_list,
    matching_aliases,
    never_matches,
)

HOST_CHARS = "abcAB01.-"
PATTERN_CHARS = HOST_CHARS + "*?"
hosts = st.text(HOST_CHARS, min_size=1, max_size=10).filter(lambda h: h[0] not in "-.")
patterns = st.text(PATTERN_CHARS, min_size=1, max_size=8)
words = st.builds(lambda neg, p: ("!" if neg else "") + p, st.booleans(), patterns)


def ssh_match_pattern(s: str, pattern: str) -> bool:
    """A literal, recursive port of OpenSSH match.c's match_pattern: the reference."""
    i = j = 0
    while True:
        if j == len(pattern):
            return i == len(s)
        if pattern[j] == "*":
            while j < len(pattern) and pattern[j] == "*":
                j += 1
            if j == len(pattern):
                return True
            if pattern[j] not in "?*":
                return any(
                    s[k] == pattern[j] and ssh_match_pattern(s[k + 1 :], pattern[j + 1 :])
                    for k in range(i, len(s))
                )
            return any(ssh_match_pattern(s[k:], pattern[j:]) for k in range(i, len(s)))
        if i == len(s):
            return False
        if pattern[j] != "?" and pattern[j] != s[i]:
            return False
        i += 1
        j += 1


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("lab", "lab", True),
        ("lab", "LAB", False),  # case-sensitive
        ("lab", "l?b", True),
        ("lab", "l*", True),
        ("lab", "*", True),
        ("", "*", True),
        ("", "?", False),
        ("lab-kernel", "lab*", True),
        ("gpu1.lab", "*.lab", True),
        ("gpu1.lab", "gpu?.lab", True),
        ("gpu10.lab", "gpu?.lab", False),
        ("aaa", "a*a*a", True),
        ("aa", "a*a*a", False),
        ("abcabd", "*abd", True),
        ("a*b", "a*b", True),
    ],
)
def test_match_pattern_examples(text: str, pattern: str, expected: bool) -> None:
    assert match_pattern(text, pattern) is expected


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("lab", "lab,other", 1),
        ("lab", "other", 0),
        ("lab", "*,!lab", -1),
        ("lab", "!lab,*", -1),
        ("labx", "*,!lab", 1),
        ("lab", "LAB", 0),
    ],
)
def test_pattern_list_examples(host: str, patterns: str, expected: int) -> None:
    assert match_pattern_list(host, patterns) == expected


def test_pattern_list_lowercases_entries_when_asked() -> None:
    assert match_pattern_list("lab", "LAB", dolower=True) == 1


def test_host_line_negation_cancels_wherever_it_stands() -> None:
    assert host_line_matches("lab", ["*", "!lab"]) is False
    assert host_line_matches("lab", ["!lab", "*"]) is False
    assert host_line_matches("lab2", ["*", "!lab"]) is True
    assert host_line_matches("lab", ["!other"]) is False  # negation alone matches nothing
    assert never_matches(["!other"])
    assert not never_matches(["*", "!x"])
    assert not never_matches([])


def test_wildcard_words() -> None:
    assert has_wildcard("lab*")
    assert has_wildcard("l?b")
    assert has_wildcard("!lab")
    assert not has_wildcard("lab.example.org")


def test_matching_aliases_keeps_order() -> None:
    assert matching_aliases(["lab*", "!lab2"], ["lab1", "lab2", "x", "lab3"]) == ["lab1", "lab3"]


@given(hosts, patterns)
def test_agrees_with_a_literal_port_of_match_c(text: str, pattern: str) -> None:
    assert match_pattern(text, pattern) is ssh_match_pattern(text, pattern)


@given(hosts, patterns)
def test_agrees_with_fnmatch_without_brackets(text: str, pattern: str) -> None:
    assert match_pattern(text, pattern) is fnmatch.fnmatchcase(text, pattern)


@given(hosts)
def test_every_host_matches_itself_and_star(text: str) -> None:
    assert match_pattern(text, text)
    assert match_pattern(text, "*")
    assert match_pattern(text, "?" * len(text))
    assert not match_pattern(text, "?" * (len(text) + 1))


@given(hosts, st.lists(words, min_size=1, max_size=5))
def test_host_line_is_any_positive_and_no_negative(host: str, line: list[str]) -> None:
    positive = any(match_pattern(host, w) for w in line if not w.startswith("!"))
    negative = any(match_pattern(host, w[1:]) for w in line if w.startswith("!"))
    assert host_line_matches(host, line) is (positive and not negative)


@given(hosts, st.lists(words, min_size=1, max_size=4))
def test_pattern_list_is_order_independent(host: str, entries: list[str]) -> None:
    results = {
        match_pattern_list(host, ",".join(order)) for order in itertools.permutations(entries)
    }
    assert len(results) == 1


@given(hosts, st.lists(words, min_size=1, max_size=4), patterns)
def test_a_matching_negation_vetoes_the_list(host: str, entries: list[str], extra: str) -> None:
    if match_pattern(host, extra):
        assert match_pattern_list(host, ",".join([*entries, "!" + extra])) == -1


@given(st.lists(hosts, max_size=6, unique=True), st.lists(words, min_size=1, max_size=3))
def test_overlap_is_the_aliases_a_line_matches(aliases: list[str], line: list[str]) -> None:
    found = matching_aliases(line, aliases)
    assert found == [a for a in aliases if host_line_matches(a, line)]
    if never_matches(line):
        assert found == []


# --- against ssh itself -----------------------------------------------------------------


def _ssh_user(config: Path, host: str) -> str:
    done = subprocess.run(
        ["ssh", "-G", "-F", str(config), "--", host],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    for line in done.stdout.splitlines():
        if line.startswith("user "):
            return line.split(" ", 1)[1]
    raise AssertionError("ssh -G printed no user")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(host=hosts, line=st.lists(words, min_size=1, max_size=3))
def test_host_lines_agree_with_ssh(tmp_path: Path, host: str, line: list[str]) -> None:
    config = tmp_path / "config"
    config.write_text(f"Host {' '.join(line)}\n    User matched\n")
    assert (_ssh_user(config, host) == "matched") is host_line_matches(host, line)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(host=hosts, entries=st.lists(words, min_size=1, max_size=3))
def test_match_originalhost_lists_agree_with_ssh(
    tmp_path: Path, host: str, entries: list[str]
) -> None:
    config = tmp_path / "config"
    config.write_text(f"Match originalhost {','.join(entries)}\n    User matched\n")
    # Match lists ignore case: ssh lowers both the name and the patterns (Host lines do not).
    expected = match_pattern_list(host.lower(), ",".join(entries), dolower=True) == 1
    assert (_ssh_user(config, host) == "matched") is expected
