"""Acceptance 3 of issue 12: sftp, scp and rsync as bob see bob's files only; nothing of
alice's is reachable."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from jupyssh_harness import JupyterHub, KeyPair

from .conftest import HubEndpoint, authorize, write_file

SECRET = "alice's secret\n"
MINE = "bob's own\n"


@pytest.fixture(scope="module")
def files(hub: JupyterHub, user_keys: dict[str, KeyPair]) -> None:
    for user in ("alice", "bob"):
        hub.start_server(user)
        authorize(hub, user, user_keys[user])
    write_file(hub, "alice", "secret.txt", SECRET)
    write_file(hub, "bob", "mine.txt", MINE)


@pytest.mark.usefixtures("files")
def test_sftp_as_bob_lists_and_reads_bobs_files_only(
    endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    sftp = endpoint.argv("sftp", user_keys["bob"].private_key)

    listing = endpoint.transfer([*sftp, "-b", _batch(tmp_path, "ls -1a /"), "bob@127.0.0.1"])
    escape = endpoint.transfer(
        [*sftp, "-b", _batch(tmp_path, "get ../alice/secret.txt x"), "bob@127.0.0.1"]
    )

    assert listing.returncode == 0, listing.stderr
    assert "mine.txt" in listing.stdout
    assert "secret.txt" not in listing.stdout
    assert escape.returncode != 0
    assert not (tmp_path / "x").exists()


@pytest.mark.usefixtures("files")
def test_scp_as_bob_copies_bobs_file_and_not_alices(
    endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    scp = endpoint.argv("scp", user_keys["bob"].private_key)

    mine = endpoint.transfer([*scp, "bob@127.0.0.1:mine.txt", str(tmp_path / "mine.txt")])
    secret = endpoint.transfer(
        [*scp, "bob@127.0.0.1:/home/alice/secret.txt", str(tmp_path / "secret.txt")]
    )

    assert mine.returncode == 0, mine.stderr
    assert (tmp_path / "mine.txt").read_text() == MINE
    assert secret.returncode != 0
    assert not (tmp_path / "secret.txt").exists()


@pytest.mark.usefixtures("files")
def test_rsync_as_bob_copies_bobs_file_and_not_alices(
    endpoint: HubEndpoint, user_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    ssh = shlex.join(endpoint.argv("ssh", user_keys["bob"].private_key))
    rsync = ["rsync", "-e", ssh]

    mine = endpoint.transfer([*rsync, "bob@127.0.0.1:mine.txt", str(tmp_path / "mine.txt")])
    secret = endpoint.transfer(
        [*rsync, "bob@127.0.0.1:/home/alice/secret.txt", str(tmp_path / "secret.txt")]
    )

    assert mine.returncode == 0, mine.stderr
    assert (tmp_path / "mine.txt").read_text() == MINE
    assert secret.returncode != 0
    assert "Permission denied" in secret.stderr
    assert not (tmp_path / "secret.txt").exists()


def _batch(tmp_path: Path, commands: str) -> str:
    path = tmp_path / f"batch-{len(list(tmp_path.glob('batch-*')))}"
    path.write_text(commands + "\n", encoding="utf-8")
    return str(path)
