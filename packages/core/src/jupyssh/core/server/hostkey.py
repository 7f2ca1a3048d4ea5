"""The server's persistent ed25519 host key: load it, or create it once, privately.

One key per installation (``<config_dir>/host_keys/ssh_host_ed25519_key``) so that a
user's ``known_hosts`` entry stays valid across restarts; a server may point at its own
file instead. The key is created atomically with mode 0600 (a private temporary file,
hard-linked into place so a concurrent start never sees half a key and never overwrites
one), and an existing key that other users can read or write is refused.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import ipaddress
import logging
import os
import stat
import tempfile
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from jupyssh.core.errors import ServerConfigError
from jupyssh.core.paths import config_dir, ensure_private_dir, make_private_dirs

__all__ = [
    "default_host_key_path",
    "fingerprint",
    "known_hosts_line",
    "load_or_create_host_key",
]

logger = logging.getLogger(__name__)

HOST_KEY_NAME = "ssh_host_ed25519_key"
# An OpenSSH ed25519 private key is about 400 bytes; RSA-16384 about 12 KiB.
_MAX_KEY_BYTES = 64 * 1024


def default_host_key_path() -> Path:
    """``<config_dir>/host_keys/ssh_host_ed25519_key``, shared by every jupyssh server."""
    return config_dir() / "host_keys" / HOST_KEY_NAME


def fingerprint(key: paramiko.PKey) -> str:
    """The key's OpenSSH SHA256 fingerprint, ``SHA256:<unpadded base64>`` (public data)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_line(key: paramiko.PKey, host: str, port: int = 22) -> str:
    """A ``known_hosts`` line for ``key`` served at ``host:port``.

    OpenSSH writes a non-default port as ``[host]:port`` (IPv6 addresses included,
    without inner brackets), and port 22 as the bare host.
    """
    name = host.strip("[]")
    with contextlib.suppress(ValueError):
        name = ipaddress.ip_address(name).compressed
    if port != 22:
        name = f"[{name}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}"


def load_or_create_host_key(path: Path | None = None) -> paramiko.Ed25519Key:
    """Load the ed25519 host key at ``path`` (default :func:`default_host_key_path`),
    creating it (mode 0600, folder 0700) if it does not exist yet.

    :raises ServerConfigError: the file is not an SSH private key, is readable or writable
        by other users, owned by someone else, not a regular file, encrypted or not an
        ed25519 OpenSSH key.
    """
    default = path is None
    key_path = default_host_key_path() if path is None else Path(path).expanduser()
    if not key_path.exists():
        _create(key_path, private_parent=default)
    return _load(key_path)


def _create(path: Path, *, private_parent: bool) -> None:
    parent = path.parent
    if private_parent:
        ensure_private_dir(parent)
    else:
        make_private_dirs(parent)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)  # atomic, and never replaces an existing key
        except FileExistsError:
            logger.debug("host key %s appeared meanwhile; using it", path)
            return
    finally:
        os.unlink(tmp_name)
    with contextlib.suppress(OSError):
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    logger.info("created host key %s", path)


def _read_key_text(path: Path, size: int) -> str:
    """The file's text if it looks like a PEM private key (``-----BEGIN … PRIVATE
    KEY-----``), else a "not an SSH private key" error."""
    not_a_key = ServerConfigError(
        "host key file is not an SSH private key",
        where=str(path),
        hint="point the server at an ed25519 private key file (ssh-keygen -t ed25519), "
        "or leave the option out to use jupyssh's own key",
    )
    if size > _MAX_KEY_BYTES:
        raise not_a_key
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise not_a_key from None
    except OSError as exc:
        raise ServerConfigError(
            f"host key cannot be opened ({exc.strerror})", where=str(path)
        ) from exc
    first = text.lstrip().partition("\n")[0].strip()
    if not (first.startswith("-----BEGIN ") and first.endswith("PRIVATE KEY-----")):
        raise not_a_key
    return text


def _load(path: Path) -> paramiko.Ed25519Key:
    try:
        info = path.stat()
    except OSError as exc:
        raise ServerConfigError(
            f"host key cannot be opened ({exc.strerror})",
            where=str(path),
            hint="check the path, or remove a dangling link to let jupyssh create a key",
        ) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ServerConfigError(
            "host key is not a regular file",
            where=str(path),
            hint="point the server at an ed25519 private key file",
        )
    if info.st_uid != os.getuid():
        raise ServerConfigError(
            "host key is owned by another user",
            where=str(path),
            hint="use a key file of your own (remove it to let jupyssh create one)",
        )
    # The content first: only a real key gets chmod advice (``--host-key /etc/passwd``
    # must not be told to run ``chmod 600 /etc/passwd``).
    text = _read_key_text(path, info.st_size)
    try:
        key = paramiko.Ed25519Key(file_obj=io.StringIO(text))
    except paramiko.PasswordRequiredException as exc:
        raise ServerConfigError(
            "host key is encrypted",
            where=str(path),
            hint="use an unencrypted key (ssh-keygen -t ed25519 -N '' -f ...)",
        ) from exc
    except (paramiko.SSHException, ValueError) as exc:
        raise ServerConfigError(
            "host key cannot be read as an OpenSSH ed25519 private key",
            where=str(path),
            hint="move the file away to let jupyssh create a new key",
        ) from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ServerConfigError(
            f"host key is accessible by other users (mode {mode:04o})",
            where=str(path),
            hint=f"run: chmod 600 {path}",
        )
    logger.debug("loaded host key %s (%s)", path, fingerprint(key))
    return key
