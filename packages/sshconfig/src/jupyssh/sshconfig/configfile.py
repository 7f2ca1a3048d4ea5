"""Read ssh config files the way ssh does, for what ``ssh -G`` cannot say.

``ssh -G`` is the truth about one destination, but it cannot list the aliases a config
defines, say which line set a value, or notice an ``Include`` that matched nothing. This
module reads the files (following ``Include`` globs as ssh does: ``~`` expanded, relative
names under ``~/.ssh`` for user files and ``/etc/ssh`` for the system file, at most 16
levels deep) and keeps every ``Host``/``Match`` block with its directives and their file
and line. It never decides an option's value: that is ``ssh -G``'s job.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jupyssh.sshconfig.patterns import has_wildcard, host_line_matches

__all__ = [
    "MAX_DEPTH",
    "SYSTEM_CONFIG",
    "Block",
    "ConfigScan",
    "Directive",
    "argv_split",
    "default_user_config",
    "scan_config",
    "split_line",
    "user_home",
]

#: ssh's READCONF_MAX_DEPTH: how deep Include may nest.
MAX_DEPTH = 16
#: Upper bound on files read, whatever the globs say (ssh has none; we stay bounded).
MAX_FILES = 512
SYSTEM_CONFIG = "/etc/ssh/ssh_config"

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def user_home() -> Path:
    """The home folder ssh uses: the password database's, not ``$HOME``."""
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:  # pragma: no cover - a uid without a passwd entry (odd containers)
        return Path.home()


def default_user_config(home: Path | None = None) -> Path:
    return (home or user_home()) / ".ssh" / "config"


@dataclass(frozen=True)
class Directive:
    """One ``Keyword args…`` line: the keyword in lower case, its words, and where it is."""

    keyword: str
    args: tuple[str, ...]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def value(self) -> str:
        return " ".join(self.args)


@dataclass
class Block:
    """The lines that follow a ``Host`` or ``Match`` line (or a file's top, ``global``).

    ``guard`` is the block around the ``Include`` that pulled this block's file in: a
    block applies only when its guard does too.
    """

    kind: str  # "global", "host" or "match"
    patterns: tuple[str, ...]
    file: str
    line: int
    guard: Block | None = None
    directives: list[Directive] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def header(self) -> str:
        if self.kind == "global":
            return "(top of file)"
        return f"{self.kind.capitalize()} {' '.join(self.patterns)}"

    def applies(self, host: str) -> bool | None:
        """True/False for ``host``; None when only ssh can tell (a ``Match`` block)."""
        own = self._own_applies(host)
        if self.guard is None or own is False:
            return own
        outer = self.guard.applies(host)
        if outer is False:
            return False
        return None if (own is None or outer is None) else True

    def _own_applies(self, host: str) -> bool | None:
        if self.kind == "global":
            return True
        if self.kind == "host":
            return host_line_matches(host, self.patterns)
        words = [w.lower() for w in self.patterns]
        return True if words == ["all"] else None

    @property
    def is_wildcard(self) -> bool:
        return self.kind == "host" and any(has_wildcard(p) for p in self.patterns)


@dataclass(frozen=True)
class IncludeMiss:
    """An ``Include`` pattern that matched no file (ssh ignores it without a word)."""

    pattern: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ConfigScan:
    """Every block of a config and the files it came from, in ssh's reading order."""

    roots: tuple[str, ...]
    files: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    include_misses: list[IncludeMiss] = field(default_factory=list)
    #: Files named by Include that exist but could not be read, with the reason.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Set when Include nesting or the file count hit their bounds.
    truncated: str | None = None

    def aliases(self) -> list[str]:
        """Every literal alias a ``Host`` line names (no wildcard, not negated), in order."""
        seen: dict[str, None] = {}
        for block in self.blocks:
            if block.kind == "host":
                for word in block.patterns:
                    if not has_wildcard(word):
                        seen.setdefault(word, None)
        return list(seen)

    def host_blocks(self) -> Iterator[Block]:
        return (block for block in self.blocks if block.kind == "host")

    def directives_for(self, host: str, keyword: str) -> list[tuple[Directive, bool]]:
        """Lines setting ``keyword`` that apply (True) or may apply (False) to ``host``."""
        keyword = keyword.lower()
        found: list[tuple[Directive, bool]] = []
        for block in self.blocks:
            applies = block.applies(host)
            if applies is False:
                continue
            for directive in block.directives:
                if directive.keyword == keyword:
                    found.append((directive, applies is True))
        return found

    def sets(self, host: str, keyword: str) -> bool:
        """Whether some line may set ``keyword`` for ``host`` (a ``Match`` block counts)."""
        return bool(self.directives_for(host, keyword))

    def has_match_setting(self, keyword: str) -> bool:
        keyword = keyword.lower()
        return any(
            block.kind == "match" and any(d.keyword == keyword for d in block.directives)
            for block in self.blocks
        )


def argv_split(text: str) -> list[str]:
    """Split the arguments of a config line as ssh's ``argv_split`` does.

    Double or single quotes group words; a backslash escapes a quote, a backslash, or (out
    of quotes) a space; an unquoted ``#`` at the start of a word ends the line. Raises
    ValueError on an unterminated quote.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            nxt = text[i + 1] if i + 1 < n else ""
            escapable = nxt in ("'", '"', "\\") or (not quote and nxt == " ")
            if ch == "\\" and nxt and escapable:
                word.append(nxt)
                i += 2
                continue
            if not quote and ch in " \t":
                break
            if not quote and ch in "\"'":
                quote = ch
            elif quote and ch == quote:
                quote = ""
            else:
                word.append(ch)
            i += 1
        if quote:
            raise ValueError("unterminated quote")
        words.append("".join(word))
    return words


_KEYWORD = re.compile(r"^\s*([^\s=]+)(?:\s*=\s*|\s+|$)(.*)$")


def split_line(line: str) -> tuple[str, list[str]] | None:
    """``("keyword", [args…])`` for a config line, or None for a blank or comment line."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    match = _KEYWORD.match(stripped)
    if match is None:  # pragma: no cover - the pattern accepts any non-blank line
        return None
    try:
        args = argv_split(match.group(2))
    except ValueError:
        args = [match.group(2)]
    return match.group(1).lower(), args


def _expand_include(word: str, home: Path, system: bool) -> str:
    word = _ENV.sub(lambda m: os.environ.get(m.group(1), ""), word)
    if word == "~" or word.startswith("~/"):
        word = str(home) + word[1:]
    elif word.startswith("~"):
        name, _, rest = word[1:].partition("/")
        try:
            word = os.path.join(pwd.getpwnam(name).pw_dir, rest)
        except KeyError:
            return word
    if not os.path.isabs(word):
        base = "/etc/ssh" if system else str(home / ".ssh")
        word = os.path.join(base, word)
    return word


@dataclass
class _Reader:
    scan: ConfigScan
    home: Path

    def read(self, path: str, *, system: bool, guard: Block | None, depth: int) -> None:
        if depth > MAX_DEPTH or len(self.scan.files) >= MAX_FILES:
            self.scan.truncated = f"Include nesting or file count exceeded at {path}"
            return
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            if depth > 0:
                self.scan.unreadable.append((path, exc.strerror or str(exc)))
            return
        self.scan.files.append(path)
        current = Block("global", (), path, 0, guard)
        self.scan.blocks.append(current)
        for number, raw in enumerate(text.splitlines(), start=1):
            parsed = split_line(raw)
            if parsed is None:
                continue
            keyword, args = parsed
            if keyword in ("host", "match"):
                current = Block(keyword, tuple(args), path, number, guard)
                self.scan.blocks.append(current)
            elif keyword == "include":
                self._include(args, path, number, system=system, guard=current, depth=depth)
            else:
                current.directives.append(Directive(keyword, tuple(args), path, number))

    def _include(
        self, args: list[str], path: str, line: int, *, system: bool, guard: Block, depth: int
    ) -> None:
        for word in args:
            pattern = _expand_include(word, self.home, system)
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            matches = [m for m in matches if os.path.exists(m)]
            if not matches:
                self.scan.include_misses.append(IncludeMiss(word, path, line))
            for match in matches:
                self.read(match, system=system, guard=guard, depth=depth + 1)


def scan_config(
    config_file: str | os.PathLike[str] | None = None,
    *,
    home: Path | None = None,
    include_system: bool | None = None,
) -> ConfigScan:
    """Read the config ssh would read: ``config_file`` (as ``ssh -F``) or the user's and
    the system's files, following every ``Include``.

    ``include_system`` defaults to True without ``config_file`` (ssh reads
    ``/etc/ssh/ssh_config`` then) and False with it (``ssh -F`` skips the system file).
    """
    home = home or user_home()
    if config_file is not None:
        roots: list[tuple[str, bool]] = [(os.fspath(config_file), False)]
    else:
        roots = [(str(default_user_config(home)), False)]
    if include_system if include_system is not None else config_file is None:
        roots.append((SYSTEM_CONFIG, True))
    scan = ConfigScan(roots=tuple(path for path, _ in roots))
    reader = _Reader(scan, home)
    for path, system in roots:
        reader.read(path, system=system, guard=None, depth=0)
    return scan
