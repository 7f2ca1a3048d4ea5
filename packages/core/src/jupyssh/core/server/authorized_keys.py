"""OpenSSH ``authorized_keys`` files: parse them, and match a client's key against one.

Format (``sshd(8)``, AUTHORIZED_KEYS FILE FORMAT): one key per line,
``[options] keytype base64 [comment]``; blank lines and ``#`` comments are ignored. Lines
end at ``"\n"`` only (a trailing ``"\r"`` is dropped), as sshd reads them; a line holding
any other control character is skipped whole.

What this server accepts, deliberately narrower than ``sshd``:

- key types ``ssh-ed25519``, ``ecdsa-sha2-nistp256/384/521`` and ``ssh-rsa`` (at least
  2048 bits). Certificates, ``cert-authority`` lines, security keys (``sk-…``) and DSA are
  skipped.
- **A line with options is skipped, never accepted without them.** Options only ever
  restrict a key (``restrict``, ``command="…"``, ``from="…"``, ``no-pty``, ``expiry-time``…)
  and this server cannot enforce them, so honouring the key while ignoring its options would
  grant more than the file says. The options are parsed (quotes and all) so that the rest of
  the file still loads, and the skip is logged with the option names (not their values).

Every skipped line is reported as a :class:`KeyProblem` and logged with its line number;
key material is never logged (fingerprints are). :class:`AuthorizedKeys` re-reads its file
whenever the file changes (device, inode, size, mtime or ctime), so removing a line revokes
the key for new logins without a restart. Keys are compared by their wire blob with
:func:`hmac.compare_digest`, against every entry.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import stat
import struct
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import paramiko

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.server.hostkey import fingerprint

__all__ = [
    "MIN_RSA_BITS",
    "SUPPORTED_KEY_TYPES",
    "AuthorizedKey",
    "AuthorizedKeys",
    "KeyProblem",
    "default_authorized_keys_path",
    "parse_authorized_keys",
]

logger = logging.getLogger(__name__)

SUPPORTED_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
    }
)
MIN_RSA_BITS = 2048
_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def default_authorized_keys_path() -> Path:
    """``~/.ssh/authorized_keys`` of the user running the server."""
    return Path.home() / ".ssh" / "authorized_keys"


@dataclass(frozen=True)
class AuthorizedKey:
    """One usable key from an authorized_keys file."""

    key_type: str
    blob: bytes = field(repr=False)
    comment: str = ""
    line: int = 0

    @property
    def fingerprint(self) -> str:
        """``SHA256:…``, as ``ssh-keygen -lf`` prints it."""
        return fingerprint(paramiko.PKey.from_type_string(self.key_type, self.blob))


class KeyProblem(NamedTuple):
    """A line that was skipped, and why (never contains key material)."""

    line: int
    reason: str


def parse_authorized_keys(text: str) -> tuple[list[AuthorizedKey], list[KeyProblem]]:
    """Parse authorized_keys ``text`` into usable keys and skipped lines."""
    keys: list[AuthorizedKey] = []
    problems: list[KeyProblem] = []
    # "\n" alone ends a line, as in sshd: ``str.splitlines`` would also split on form
    # feeds, U+2028… and turn one line sshd rejects into an options fragment plus a bare key.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(" \t")
        if not line or line.startswith("#"):
            continue
        if _has_control_character(line):
            problems.append(KeyProblem(number, "line holds a control character, skipped"))
            continue
        try:
            keys.append(_parse_line(line, number))
        except _SkipLineError as exc:
            problems.append(KeyProblem(number, str(exc)))
    return keys, problems


def _has_control_character(line: str) -> bool:
    """A control character other than tab (C0, DEL, C1) or a Unicode line or paragraph
    separator."""
    return any(char != "\t" and unicodedata.category(char) in _CONTROL_CATEGORIES for char in line)


def _looks_like_key_type(token: str) -> bool:
    return token.startswith(_KEY_TYPE_PREFIXES) and not any(c in token for c in '=",')


def _split_options(line: str) -> tuple[str, str] | None:
    """Split ``options rest``; options end at the first unquoted blank."""
    in_quote = False
    i = 0
    while i < len(line):
        char = line[i]
        if in_quote and char == "\\" and line[i + 1 : i + 2] == '"':
            i += 2
            continue
        if char == '"':
            in_quote = not in_quote
        elif char in " \t" and not in_quote:
            return line[:i], line[i:].lstrip()
        i += 1
    return None


def _option_names(options: str) -> list[str]:
    names: list[str] = []
    current, in_quote = "", False
    for char in options + ",":
        if char == '"':
            in_quote = not in_quote
        if char == "," and not in_quote:
            names.append(current.split("=", 1)[0].strip().lower())
            current = ""
        else:
            current += char
    return [name for name in names if name]


class _SkipLineError(Exception):
    """A line that holds no usable key; the message says why."""


def _fields(text: str, most: int = -1) -> list[str]:
    """Space- and tab-separated fields, as sshd reads them (``str.split()`` would also
    split on no-break spaces and other Unicode spaces, and find no field in ``"\xa0"``)."""
    return [field for field in re.split(r"[ \t]+", text, maxsplit=max(most, 0)) if field]


def _parse_line(line: str, number: int) -> AuthorizedKey:
    fields = _fields(line, 2)
    if not _looks_like_key_type(fields[0]):
        raise _SkipLineError(_options_problem(line))
    if len(fields) < 2:
        raise _SkipLineError("no key data after the key type")
    key_type, data = fields[0], fields[1]
    comment = fields[2] if len(fields) > 2 else ""
    if key_type not in SUPPORTED_KEY_TYPES:
        raise _SkipLineError(f"unsupported key type {key_type}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _SkipLineError("key data is not valid base64") from None
    if _blob_type(blob) != key_type:
        raise _SkipLineError(f"key data does not hold a {key_type} key")
    try:
        key = paramiko.PKey.from_type_string(key_type, blob)
    except Exception:  # noqa: BLE001 - untrusted bytes into paramiko/cryptography parsers
        raise _SkipLineError(f"key data is not a valid {key_type} key") from None
    if key_type == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS:
        raise _SkipLineError(f"RSA key has {key.get_bits()} bits, fewer than {MIN_RSA_BITS}")
    return AuthorizedKey(key_type, blob, comment, number)


def _options_problem(line: str) -> str:
    split = _split_options(line)
    if split is None or not split[1]:
        return "no key after the options (or an unterminated quote)"
    options, rest = split
    names = ",".join(_option_names(options))
    words = _fields(rest)
    if len(words) < 2 or not _looks_like_key_type(words[0]):
        return f"not a key line (options {names!r} then no key type)"
    return f"key options are not supported by this server, key skipped ({names})"


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4 : 4 + length]
    if len(name) != length:
        return None
    return name.decode("ascii", "replace")


_Signature = tuple[int, int, int, int, int]


class AuthorizedKeys:
    """An authorized_keys file, re-read whenever it changes.

    :meth:`load` is the strict first read a server does before it listens (a missing or
    unsafe file is a :class:`ServerConfigError`). :meth:`match` and :attr:`keys` are the
    lenient runtime path: they re-read a changed file, and if it became missing, unsafe or
    unreadable they log it and authorize nobody until it is fixed. Thread-safe; called on
    paramiko's transport threads, where the cost is one ``stat()`` per attempt.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._signature: _Signature | str | None = None
        self._keys: tuple[AuthorizedKey, ...] = ()

    def load(self) -> tuple[AuthorizedKey, ...]:
        """Read the file now; raise :class:`ServerConfigError` if it cannot be used."""
        with self._lock:
            info = self._checked_stat()
            self._reload(info)
            return self._keys

    @property
    def keys(self) -> tuple[AuthorizedKey, ...]:
        """The usable keys, re-read first if the file changed."""
        with self._lock:
            try:
                info = self._checked_stat()
            except ServerConfigError as exc:
                if self._signature != exc.message:
                    logger.warning("authorized keys unusable, refusing every key: %s", exc)
                    self._signature = exc.message
                    self._keys = ()
                return self._keys
            if _signature(info) != self._signature:
                try:
                    self._reload(info)
                except ServerConfigError as exc:
                    logger.warning("authorized keys unusable, refusing every key: %s", exc)
                    self._signature = exc.message
                    self._keys = ()
            return self._keys

    def match(self, blob: bytes) -> AuthorizedKey | None:
        """The entry whose key blob equals ``blob``, compared in constant time per entry."""
        found: AuthorizedKey | None = None
        for entry in self.keys:
            if hmac.compare_digest(entry.blob, blob) and found is None:
                found = entry
        return found

    def _checked_stat(self) -> os.stat_result:
        path = self.path
        try:
            info = path.stat()
        except FileNotFoundError:
            raise ServerConfigError(
                "authorized_keys file not found",
                where=str(path),
                hint=(
                    "add your public key to it (cat ~/.ssh/id_ed25519.pub >> "
                    f"{path}) or point the server at another file"
                ),
            ) from None
        except OSError as exc:
            raise ServerConfigError(
                f"authorized_keys file cannot be opened ({exc.strerror})", where=str(path)
            ) from exc
        if not stat.S_ISREG(info.st_mode):
            raise ServerConfigError("authorized_keys is not a regular file", where=str(path))
        if info.st_uid not in (os.getuid(), 0):
            raise ServerConfigError(
                "authorized_keys file is owned by another user",
                where=str(path),
                hint="use a file you own",
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o022:
            raise ServerConfigError(
                f"authorized_keys file is writable by other users (mode {mode:04o})",
                where=str(path),
                hint=f"run: chmod go-w {path}",
            )
        return info

    def _reload(self, info: os.stat_result) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ServerConfigError(
                f"authorized_keys file cannot be read ({exc.strerror})", where=str(self.path)
            ) from exc
        keys, problems = parse_authorized_keys(text)
        for problem in problems:
            logger.warning("%s:%d: %s", self.path, problem.line, problem.reason)
        if not keys:
            logger.warning("%s holds no usable key: every login will be refused", self.path)
        else:
            logger.info("loaded %d authorized key(s) from %s", len(keys), self.path)
        self._keys = tuple(keys)
        self._signature = _signature(info)


def _signature(info: os.stat_result) -> _Signature:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
