"""Key files told apart by content, token expansion, and a real (local) ssh-agent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyssh.sshconfig import Role, check
from jupyssh.sshconfig.context import Probes
from jupyssh.sshconfig.keys import (
    KeyKind,
    agent_fingerprints,
    agent_socket,
    expand_path,
    inspect_key,
    key_fingerprint,
    openssh_cipher,
)


@pytest.mark.parametrize(
    ("name", "kind", "encrypted"),
    [
        ("clear", KeyKind.PRIVATE_OPENSSH, False),
        ("enc", KeyKind.PRIVATE_OPENSSH, True),
        ("pemenc", KeyKind.PRIVATE_PEM, True),
        ("p8enc", KeyKind.PRIVATE_PKCS8, True),
        ("clear.pub", KeyKind.PUBLIC, None),
        ("putty.ppk", KeyKind.PUTTY, None),
    ],
)
def test_kinds_by_content(keys: Any, name: str, kind: KeyKind, encrypted: bool | None) -> None:
    key = inspect_key(keys.path(name))
    assert (key.kind, key.encrypted) == (kind, encrypted)


def test_cipher_is_read_from_the_openssh_header(keys: Any) -> None:
    assert openssh_cipher(Path(keys.path("clear")).read_text()) == "none"
    assert openssh_cipher(Path(keys.path("enc")).read_text()) == "aes256-ctr"
    assert openssh_cipher("-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n") is None


def test_missing_folder_and_open_files(keys: Any) -> None:
    assert not inspect_key(keys.path("absent")).exists
    folder = inspect_key(keys.path("adir"))
    assert folder.exists
    assert not folder.readable
    assert folder.read_error == "a folder"
    assert inspect_key(keys.path("open")).too_open
    assert not inspect_key(keys.path("clear")).too_open


def test_expand_path_tokens_tilde_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYDIR", "/keys")
    tokens = {"h": "10.0.0.1", "r": "alice", "p": "22"}
    home = Path("/home/me")
    assert expand_path("~/.ssh/%r@%h_%p", tokens, home) == "/home/me/.ssh/alice@10.0.0.1_22"
    assert expand_path("${KEYDIR}/%%h", tokens, home) == "/keys/%h"
    assert expand_path("/x/%C", tokens, home) == "/x/%C"  # unknown tokens stay


def test_agent_socket_follows_identityagent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent")
    monkeypatch.setenv("OTHER_SOCK", "/run/other")
    home = Path("/home/me")
    assert agent_socket(None, home) == "/run/agent"
    assert agent_socket("SSH_AUTH_SOCK", home) == "/run/agent"
    assert agent_socket("none", home) is None
    assert agent_socket("$OTHER_SOCK", home) == "/run/other"
    assert agent_socket("~/agent.sock", home) == "/home/me/agent.sock"


@pytest.mark.asyncio
async def test_fingerprint_falls_back_to_the_pub_file(keys: Any) -> None:
    assert await key_fingerprint(keys.path("clear")) == keys.fingerprints["clear"]
    assert await key_fingerprint(keys.path("pemenc")) == keys.fingerprints["pemenc"]
    assert await key_fingerprint(keys.path("pemnopub")) is None


@pytest.mark.asyncio
async def test_no_agent_socket() -> None:
    state = await agent_fingerprints(None)
    assert not state.available
    assert state.error is not None


@pytest.fixture
def agent(short_tmp: Path, keys: Any) -> Iterator[str]:
    """A real ssh-agent on a private socket, holding a clear copy of the ``enc`` key."""
    sock = short_tmp / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        copy = short_tmp / "enc-clear"
        shutil.copy(keys.path("enc"), copy)
        copy.chmod(0o600)
        subprocess.run(
            ["ssh-keygen", "-q", "-p", "-P", "correct horse", "-N", "", "-f", str(copy)],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(
            ["ssh-add", "-q", str(copy)], check=True, env=env, stdin=subprocess.DEVNULL, timeout=30
        )
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.asyncio
async def test_real_agent_lists_fingerprints(agent: str, keys: Any) -> None:
    state = await agent_fingerprints(agent)
    assert state.fingerprints == frozenset({keys.fingerprints["enc"]})
    assert state.holds(keys.fingerprints["enc"])
    assert not state.holds(keys.fingerprints["clear"])


def test_passphrase_key_held_by_a_real_agent_passes(
    agent: str, keys: Any, short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    config = short_tmp / "config"
    config.write_text(
        f"Host lab\n  HostName 192.0.2.1\n  User a\n  IdentityFile {keys.path('enc')}\n"
        f"  IdentityFile {keys.path('pemenc')}\n"
    )
    report = check("lab", Role.KERNEL, config=str(config), probes=Probes(home=short_tmp))
    verdicts = {(f.severity.value, f.message.split()[1]) for f in report.find("JS109")}
    assert ("ok", keys.path("enc")) in verdicts
    assert ("error", keys.path("pemenc")) in verdicts
