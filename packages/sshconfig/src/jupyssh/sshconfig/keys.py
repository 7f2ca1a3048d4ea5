"""Look at identity files and the agent the way ssh will when it authenticates.

A key file is read (at most 64 KiB) to tell a private key from a public one and an
encrypted private key from a clear one, by content: OpenSSH's own format names its
cipher in the header (``none`` when clear), PEM keys say ``Proc-Type: 4,ENCRYPTED``, and
PKCS#8 has a distinct ``ENCRYPTED PRIVATE KEY`` armour. Fingerprints come from
``ssh-keygen -l`` and the agent's from ``ssh-add -l``, both local programs bounded in time.
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import pwd
import re
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from jupyssh.core.errors import JupysshError
from jupyssh.core.process import run_program

__all__ = [
    "AgentState",
    "KeyFile",
    "KeyKind",
    "agent_fingerprints",
    "agent_socket",
    "expand_path",
    "inspect_key",
    "key_fingerprint",
    "openssh_cipher",
]

_READ_LIMIT = 64 * 1024
_PROGRAM_TIMEOUT = 5.0
_FINGERPRINT = re.compile(r"\b(SHA256:[A-Za-z0-9+/=]+)")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAGIC = b"openssh-key-v1\x00"


class KeyKind(str, enum.Enum):
    PRIVATE_OPENSSH = "private-openssh"
    PRIVATE_PEM = "private-pem"
    PRIVATE_PKCS8 = "private-pkcs8"
    PUBLIC = "public"
    PUTTY = "putty"
    UNKNOWN = "unknown"

    @property
    def is_private(self) -> bool:
        return self in (KeyKind.PRIVATE_OPENSSH, KeyKind.PRIVATE_PEM, KeyKind.PRIVATE_PKCS8)


@dataclass(frozen=True)
class KeyFile:
    """What is on disk at an identity path, as far as ssh will care."""

    path: str
    exists: bool
    is_file: bool = False
    readable: bool = False
    read_error: str | None = None
    mode: int | None = None
    owner: int | None = None
    kind: KeyKind = KeyKind.UNKNOWN
    #: True/False for private keys whose format says; None when it cannot be told.
    encrypted: bool | None = None

    @property
    def too_open(self) -> bool:
        """ssh refuses a private key its owner lets others read (``UNPROTECTED PRIVATE KEY``)."""
        return (
            self.mode is not None
            and self.owner == os.getuid()
            and bool(stat.S_IMODE(self.mode) & 0o077)
        )


def openssh_cipher(text: str) -> str | None:
    """The cipher an OpenSSH-format private key is encrypted with (``none`` if clear)."""
    body = "".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----")
    )
    try:
        blob = base64.b64decode(body[:256] + "=" * (-len(body[:256]) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        return None
    offset = len(_MAGIC)
    length = int.from_bytes(blob[offset : offset + 4], "big")
    name = blob[offset + 4 : offset + 4 + length]
    return name.decode("ascii", "replace") if len(name) == length else None


# (header prefix or pattern, kind): read top down, the first match wins.
_ARMOURS: tuple[tuple[re.Pattern[str], KeyKind], ...] = (
    (re.compile(r"-----BEGIN OPENSSH PRIVATE KEY-----"), KeyKind.PRIVATE_OPENSSH),
    (re.compile(r"-----BEGIN (ENCRYPTED )?PRIVATE KEY-----"), KeyKind.PRIVATE_PKCS8),
    (re.compile(r"-----BEGIN (RSA|DSA|EC) PRIVATE KEY-----"), KeyKind.PRIVATE_PEM),
    (re.compile(r"PuTTY-User-Key-File"), KeyKind.PUTTY),
    (re.compile(r"(ssh-|ecdsa-|sk-ssh-|sk-ecdsa-)\S+ [A-Za-z0-9+/=]+"), KeyKind.PUBLIC),
    (re.compile(r"---- BEGIN SSH2 PUBLIC KEY ----"), KeyKind.PUBLIC),
)


def _encrypted(kind: KeyKind, text: str) -> bool | None:
    """Whether a private key of ``kind`` is passphrase-protected, judged by its content."""
    if kind is KeyKind.PRIVATE_OPENSSH:
        cipher = openssh_cipher(text)
        return None if cipher is None else cipher != "none"
    if kind is KeyKind.PRIVATE_PKCS8:
        return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text[:200]
    if kind is KeyKind.PRIVATE_PEM:
        return "Proc-Type: 4,ENCRYPTED" in text[:400]
    return None


def _classify(text: str) -> tuple[KeyKind, bool | None]:
    head = text.lstrip()[:200]
    for pattern, kind in _ARMOURS:
        if pattern.match(head):
            return kind, _encrypted(kind, text.lstrip())
    return KeyKind.UNKNOWN, None


def inspect_key(path: str) -> KeyFile:
    """Stat and read ``path`` (already expanded) and say what kind of key it holds."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return KeyFile(path, exists=False)
    except OSError as exc:
        return KeyFile(path, exists=True, read_error=exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return KeyFile(path, exists=True, read_error=kind, mode=info.st_mode, owner=info.st_uid)
    try:
        with open(path, "rb") as handle:
            text = handle.read(_READ_LIMIT).decode("utf-8", "replace")
    except OSError as exc:
        return KeyFile(
            path,
            exists=True,
            is_file=True,
            read_error=exc.strerror or str(exc),
            mode=info.st_mode,
            owner=info.st_uid,
        )
    kind, encrypted = _classify(text)
    return KeyFile(
        path,
        exists=True,
        is_file=True,
        readable=True,
        mode=info.st_mode,
        owner=info.st_uid,
        kind=kind,
        encrypted=encrypted,
    )


def _tilde(path: str, home: Path) -> str:
    if path == "~" or path.startswith("~/"):
        return str(home) + path[1:]
    if path.startswith("~"):
        name, _, rest = path[1:].partition("/")
        try:
            return os.path.join(pwd.getpwnam(name).pw_dir, rest)
        except KeyError:
            return path
    return path


def expand_path(value: str, tokens: dict[str, str], home: Path) -> str:
    """Expand ``~``, ``${VAR}`` and ``%`` tokens in an IdentityFile-like value, as ssh does.

    ``tokens`` maps a token letter (``h``, ``r``, ``p``, ``u``, ``d``, ``l``, ``L``...) to its
    value; an unknown token is left as it is (the path then will not exist, which the rule
    reports together with the raw value).
    """
    value = _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)
    value = _tilde(value, home)
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%" and i + 1 < len(value):
            letter = value[i + 1]
            out.append("%" if letter == "%" else tokens.get(letter, "%" + letter))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def local_tokens(home: Path, local_user: str) -> dict[str, str]:
    """The tokens that do not depend on the destination: %d, %u, %l, %L, %i."""
    fqdn = socket.gethostname()
    return {
        "d": str(home),
        "u": local_user,
        "l": fqdn,
        "L": fqdn.split(".", 1)[0],
        "i": str(os.getuid()),
    }


@dataclass(frozen=True)
class AgentState:
    """What the ssh agent holds: None for ``fingerprints`` when no agent could be asked."""

    socket: str | None
    fingerprints: frozenset[str] | None
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.fingerprints is not None

    def holds(self, fingerprint: str | None) -> bool:
        return (
            fingerprint is not None
            and bool(self.fingerprints)
            and (fingerprint in (self.fingerprints or ()))
        )


def agent_socket(identity_agent: str | None, home: Path) -> str | None:
    """The agent socket ssh will use for a hop's ``IdentityAgent`` (None: no agent)."""
    if identity_agent is None or identity_agent == "SSH_AUTH_SOCK":
        return os.environ.get("SSH_AUTH_SOCK") or None
    if identity_agent.lower() == "none":
        return None
    if identity_agent.startswith("$"):
        return os.environ.get(identity_agent[1:].strip("{}")) or None
    return _tilde(identity_agent, home)


async def agent_fingerprints(sock: str | None, *, ssh_add: str = "ssh-add") -> AgentState:
    """Ask the agent on ``sock`` for its keys' SHA256 fingerprints (``ssh-add -l``)."""
    if sock is None:
        return AgentState(None, None, "no agent is running (SSH_AUTH_SOCK is not set)")
    env = {**os.environ, "SSH_AUTH_SOCK": sock}
    try:
        done = await run_program(
            [ssh_add, "-l", "-E", "sha256"],
            timeout=_PROGRAM_TIMEOUT,
            env=env,
            what="ssh-add -l",
        )
    except JupysshError as exc:
        return AgentState(sock, None, f"the agent cannot be asked ({exc.message})")
    if done.returncode == 1:  # "The agent has no identities."
        return AgentState(sock, frozenset())
    if done.returncode != 0:
        reason = done.stderr_text.strip() or f"ssh-add exited with {done.returncode}"
        return AgentState(sock, None, f"the agent cannot be asked ({reason})")
    return AgentState(sock, frozenset(_FINGERPRINT.findall(done.stdout_text)))


def _existing_files(*paths: str) -> list[str]:
    return [path for path in paths if os.path.isfile(path)]


async def key_fingerprint(path: str, *, ssh_keygen: str = "ssh-keygen") -> str | None:
    """The SHA256 fingerprint of the key at ``path`` (or its ``.pub``), or None."""
    for candidate in _existing_files(path, path + ".pub"):
        try:
            done = await run_program(
                [ssh_keygen, "-l", "-E", "sha256", "-f", candidate],
                timeout=_PROGRAM_TIMEOUT,
                what="ssh-keygen -l",
            )
        except JupysshError:
            return None
        match = _FINGERPRINT.search(done.stdout_text) if done.returncode == 0 else None
        if match:
            return match.group(1)
    return None
