"""OpenSSH's host pattern matching, as pure functions (``match.c`` and ``readconf.c``).

Three layers, as in OpenSSH:

* :func:`match_pattern` — one glob: ``*`` is any run of characters (also none), ``?`` is
  exactly one; every other character stands for itself, case-sensitively.
* :func:`match_pattern_list` — a comma-separated list (``Match host a,b,!c``): the result
  is ``-1`` when a negated entry matches (a veto), ``1`` when a positive one does, else
  ``0``. With ``dolower`` the entries are lower-cased first, as ssh does for host names.
* :func:`host_line_matches` — the words of one ``Host`` line: whitespace-separated
  patterns, each possibly negated with ``!``. The line applies when one positive pattern
  matches and no negated one does. Commas are *not* separators on a ``Host`` line.

ssh compares ``Host`` patterns with the destination exactly as typed on the command line
(case-sensitively), while ``Match host``/``originalhost`` lists ignore case (ssh lowers the
name and, with ``dolower``, the patterns); the tests check both against ``ssh -G`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "has_wildcard",
    "host_line_matches",
    "is_negated",
    "match_pattern",
    "match_pattern_list",
    "matching_aliases",
    "never_matches",
]

_WILDCARDS = frozenset("*?")


def match_pattern(text: str, pattern: str) -> bool:
    """Whether ``text`` matches the glob ``pattern`` (``*`` and ``?``), as ssh's ``match_pattern``.

    Iterative with single-star backtracking: O(len(text) * len(pattern)) in the worst case,
    where ssh's recursive version is exponential; the two accept the same strings.
    """
    t = p = 0
    star_p = -1  # position in pattern just after the last '*'
    star_t = 0  # position in text that star currently stands up to
    n, m = len(text), len(pattern)
    while t < n:
        if p < m and pattern[p] == "*":
            while p < m and pattern[p] == "*":
                p += 1
            if p == m:
                return True
            star_p, star_t = p, t
        elif p < m and (pattern[p] == "?" or pattern[p] == text[t]):
            t += 1
            p += 1
        elif star_p >= 0:
            star_t += 1
            t, p = star_t, star_p
        else:
            return False
    while p < m and pattern[p] == "*":
        p += 1
    return p == m


def match_pattern_list(text: str, patterns: str, *, dolower: bool = False) -> int:
    """ssh's ``match_pattern_list``: 1 (a positive entry matches), -1 (a negated one does), 0.

    ``patterns`` is a comma-separated list; an entry starting with ``!`` is negated. A
    negated match wins over any positive one, wherever it stands in the list.
    """
    got_positive = False
    for raw in patterns.split(","):
        negated = raw.startswith("!")
        entry = raw[1:] if negated else raw
        if dolower:
            entry = entry.lower()
        if match_pattern(text, entry):
            if negated:
                return -1
            got_positive = True
    return 1 if got_positive else 0


def is_negated(pattern: str) -> bool:
    return pattern.startswith("!")


def has_wildcard(pattern: str) -> bool:
    """Whether a ``Host`` word is a pattern rather than one literal alias."""
    return is_negated(pattern) or any(ch in _WILDCARDS for ch in pattern)


def host_line_matches(host: str, patterns: Sequence[str]) -> bool:
    """Whether a ``Host`` line with these words applies to ``host`` (readconf.c, ``oHost``).

    Any matching negated word cancels the line, even when a positive word matched before it.
    """
    matched = False
    for word in patterns:
        negated = is_negated(word)
        if match_pattern(host, word[1:] if negated else word):
            if negated:
                return False
            matched = True
    return matched


def never_matches(patterns: Sequence[str]) -> bool:
    """A ``Host`` line with only negated words applies to nothing (a common slip)."""
    return bool(patterns) and all(is_negated(word) for word in patterns)


def matching_aliases(patterns: Sequence[str], aliases: Iterable[str]) -> list[str]:
    """The aliases (literal ``Host`` names) that a ``Host`` line with ``patterns`` applies to."""
    return [alias for alias in aliases if host_line_matches(alias, patterns)]
