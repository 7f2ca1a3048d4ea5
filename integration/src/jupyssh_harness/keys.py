"""Client keypairs, sshd host keys and known_hosts files, made with ``ssh-keygen``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._common import HarnessError

__all__ = [
    "HOST_KEY_NAME",
    "KeyPair",
    "generate_host_key",
    "generate_keypair",
    "known_hosts_line",
    "write_known_hosts",
]

#: File name of the ed25519 host key inside a host-keys folder (what sshd's image expects).
HOST_KEY_NAME = "ssh_host_ed25519_key"


@dataclass(frozen=True)
class KeyPair:
    """An OpenSSH keypair on disk; the private key is 0600."""

    private_key: Path
    public_key: Path

    @property
    def public_line(self) -> str:
        """``<type> <base64> <comment>`` as in the ``.pub`` file."""
        return self.public_key.read_text(encoding="ascii").strip()

    @property
    def public_blob(self) -> str:
        """``<type> <base64>`` (no comment): what known_hosts and authorized_keys match."""
        key_type, blob, *_ = self.public_line.split()
        return f"{key_type} {blob}"


def _keygen(path: Path, comment: str) -> KeyPair:
    if path.exists():
        raise HarnessError(f"refusing to overwrite {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
    except FileNotFoundError as exc:
        raise HarnessError("ssh-keygen not found; install the OpenSSH client") from exc
    except subprocess.CalledProcessError as exc:
        raise HarnessError(f"ssh-keygen failed: {exc.stderr.decode().strip()}") from exc
    path.chmod(0o600)
    return KeyPair(private_key=path, public_key=path.with_name(path.name + ".pub"))


def generate_keypair(
    directory: Path, name: str = "id_ed25519", *, comment: str = "jupyssh-test"
) -> KeyPair:
    """A new ed25519 client keypair ``directory/name`` (+ ``.pub``), private key 0600."""
    return _keygen(directory / name, comment)


def generate_host_key(directory: Path, *, comment: str = "jupyssh-test-host") -> KeyPair:
    """A new ed25519 sshd host key in ``directory`` (a folder to mount into the openssh
    image at ``/etc/jupyssh/host-keys``)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    return _keygen(directory / HOST_KEY_NAME, comment)


def known_hosts_line(host: str, port: int, public_blob: str) -> str:
    """One known_hosts line: ``host`` for port 22, ``[host]:port`` otherwise."""
    pattern = host if port == 22 else f"[{host}]:{port}"
    return f"{pattern} {public_blob}"


def write_known_hosts(path: Path, entries: Iterable[tuple[str, int, str]]) -> Path:
    """Write a known_hosts file from ``(host, port, public_blob)`` entries (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(known_hosts_line(host, port, blob) + "\n" for host, port, blob in entries)
    path.write_text(text, encoding="ascii")
    path.chmod(0o600)
    return path
