"""Shared fixtures: real keys made by ssh-keygen, short private folders, fake probes.

Nothing here touches the network: ``ssh -G``, ``ssh-keygen`` are local programs, DNS and
the agent are replaced by :func:`make_probes`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyssh.sshconfig import Probes
from jupyssh.sshconfig.keys import AgentState

NO_AGENT = "no agent is running (SSH_AUTH_SOCK is not set)"
PUTTY = (
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: test\n"
    "Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIB\nAAAA\n"
)


@dataclass(frozen=True)
class Keys:
    """A folder of real keys of every kind a rule cares about, with their fingerprints."""

    folder: Path
    fingerprints: dict[str, str]

    def path(self, name: str) -> str:
        return str(self.folder / name)


def _keygen(folder: Path, name: str, *args: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-C", f"test-{name}", "-f", str(folder / name), *args],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _fingerprint(path: Path) -> str:
    done = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.split()[1]


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    folder = Path(tempfile.mkdtemp(prefix="sck"))
    try:
        _keygen(folder, "clear", "-t", "ed25519", "-N", "")
        _keygen(folder, "enc", "-t", "ed25519", "-N", "correct horse")
        _keygen(folder, "pemenc", "-t", "rsa", "-b", "1024", "-m", "PEM", "-N", "secret1")
        _keygen(folder, "pemnopub", "-t", "rsa", "-b", "1024", "-m", "PEM", "-N", "secret1")
        _keygen(folder, "p8enc", "-t", "ecdsa", "-m", "PKCS8", "-N", "secret1")
        _keygen(folder, "open", "-t", "ed25519", "-N", "")
        fingerprints = {
            name: _fingerprint(folder / f"{name}.pub")
            for name in ("clear", "enc", "pemenc", "pemnopub", "p8enc", "open")
        }
        (folder / "pemnopub.pub").unlink()
        (folder / "open").chmod(0o644)
        (folder / "adir").mkdir()
        putty = folder / "putty.ppk"
        putty.write_text(PUTTY)
        putty.chmod(0o600)
        yield Keys(folder, fingerprints)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private folder with a short path (ControlPaths must fit a Unix socket)."""
    folder = Path(tempfile.mkdtemp(prefix="sc"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_probes(
    home: Path,
    *,
    dns: Iterable[str] = (),
    agent_fingerprints: Iterable[str] = (),
    agent_count: int = 0,
) -> Probes:
    """Probes with a fake DNS (only ``dns`` resolves) and a fake agent."""
    names = frozenset(dns)
    held = frozenset(agent_fingerprints) | {f"SHA256:fake{i}" for i in range(agent_count)}

    async def agent(_sock: str | None) -> AgentState:
        if not held:
            return AgentState(None, None, NO_AGENT)
        return AgentState("/fake/agent.sock", frozenset(held))

    return Probes(resolve_name=names.__contains__, home=home, agent=agent)


@pytest.fixture
def probes() -> object:
    """:func:`make_probes`, for tests (``probes(home, dns=[…])``)."""
    return make_probes
