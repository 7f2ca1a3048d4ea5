"""Acceptance 1 to 3: OpenSSH's ``sftp -b`` and ``scp`` (SFTP mode) round-trip files through
jupyssh-sftp and the real Jupyter server, byte-exact, checked on the server's disk too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import SFTPEndpoint, leftovers, sha256_of, write_random

_MiB = 1024 * 1024

NAMES = [
    "with space.bin",
    "hash#tag.bin",
    "what?.bin",
    "100%.bin",
    "a..b.bin",
    "ünïcødé-файл.bin",
]
SIZES = [0, 1, _MiB + 1]


def _quote(name: str) -> str:
    """An argument for an sftp batch line (double quotes; backslash escapes)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _make_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True)
    digests = {}
    for size in SIZES:
        for name in NAMES:
            filename = f"{size}-{name}"
            digests[filename] = write_random(folder / filename, size)
    return digests


def _check(folder: Path, digests: dict[str, str]) -> None:
    for filename, digest in digests.items():
        assert sha256_of(folder / filename) == digest, filename


def test_sftp_batch_round_trips_sizes_and_names(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    digests = _make_files(tmp_path / "up")
    down = tmp_path / "down"
    down.mkdir()
    remote = sftp_endpoint.root / "sftp-names"
    lines = ["mkdir sftp-names", "cd sftp-names"]
    lines += [f"put {_quote(str(tmp_path / 'up' / f))} {_quote(f)}" for f in digests]
    lines += [f"get {_quote(f)} {_quote(str(down / f))}" for f in digests]
    sftp_endpoint.sftp("\n".join(lines) + "\n")
    _check(remote, digests)  # on the Jupyter server's disk
    _check(down, digests)  # and back
    # jupyter_server's rename makes an (empty, hidden) .ipynb_checkpoints folder
    visible = [p.name for p in remote.iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted(digests)
    assert leftovers(sftp_endpoint.root) == []


def test_scp_round_trips_sizes_and_names(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    digests = _make_files(tmp_path / "up")
    down = tmp_path / "down"
    down.mkdir()
    sftp_endpoint.sftp("mkdir scp-names\n")  # made by the server's user, not root
    sources = [str(tmp_path / "up" / f) for f in digests]
    sftp_endpoint.scp(*sources, sftp_endpoint.remote("scp-names/"))
    _check(sftp_endpoint.root / "scp-names", digests)
    for filename in digests:
        sftp_endpoint.scp(sftp_endpoint.remote(f"scp-names/{filename}"), str(down / filename))
    _check(down, digests)
    assert leftovers(sftp_endpoint.root) == []


@pytest.mark.parametrize("tool", ["sftp", "scp"])
def test_300_mib_round_trip(sftp_endpoint: SFTPEndpoint, tmp_path: Path, tool: str):
    source = tmp_path / "big.bin"
    digest = write_random(source, 300 * _MiB)
    back = tmp_path / "back.bin"
    name = f"big {tool}.bin"
    if tool == "sftp":
        sftp_endpoint.sftp(
            f"put {_quote(str(source))} {_quote(name)}\nget {_quote(name)} {_quote(str(back))}\n"
        )
    else:
        sftp_endpoint.scp(str(source), sftp_endpoint.remote(name))
        sftp_endpoint.scp(sftp_endpoint.remote(name), str(back))
    assert sha256_of(sftp_endpoint.root / name) == digest
    assert sha256_of(back) == digest
    (sftp_endpoint.root / name).unlink()
    assert leftovers(sftp_endpoint.root) == []


def test_notebook_round_trips_byte_exact(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    """Acceptance 2: not re-serialised JSON (odd indentation, key order, no final newline)."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"zeta": 1, "alpha": "é"},
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": ["print('hi')"],
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    raw = json.dumps(notebook, indent=3, ensure_ascii=False).encode() + b"  "
    source = tmp_path / "odd.ipynb"
    source.write_bytes(raw)
    back = tmp_path / "back.ipynb"
    sftp_endpoint.sftp(f"put {source} odd.ipynb\nget odd.ipynb {back}\n")
    assert (sftp_endpoint.root / "odd.ipynb").read_bytes() == raw
    assert back.read_bytes() == raw
    sftp_endpoint.scp(str(source), sftp_endpoint.remote("odd-scp.ipynb"))
    sftp_endpoint.scp(sftp_endpoint.remote("odd-scp.ipynb"), str(back))
    assert back.read_bytes() == raw


def test_scp_overwrite_with_shorter_file_leaves_no_tail(
    sftp_endpoint: SFTPEndpoint, tmp_path: Path
):
    """Acceptance 3: scp ≥ 9.1 writes without truncating, then sets the size."""
    long_file, short_file = tmp_path / "long.bin", tmp_path / "short.bin"
    write_random(long_file, 3 * _MiB + 17)
    short = write_random(short_file, _MiB // 2 + 3)
    sftp_endpoint.scp(str(long_file), sftp_endpoint.remote("shrink.bin"))
    sftp_endpoint.scp(str(short_file), sftp_endpoint.remote("shrink.bin"))
    assert sha256_of(sftp_endpoint.root / "shrink.bin") == short
    # and the same through sftp's put (which truncates on open)
    sftp_endpoint.sftp(f"put {long_file} shrink2.bin\nput {short_file} shrink2.bin\n")
    assert sha256_of(sftp_endpoint.root / "shrink2.bin") == short
    assert leftovers(sftp_endpoint.root) == []


def test_put_recursive_tree(sftp_endpoint: SFTPEndpoint, tmp_path: Path):
    """Acceptance 3: ``put -r`` (mkdir, and stat showing the folder when it exists)."""
    tree = tmp_path / "tree"
    files = {
        "a.txt": 10,
        "sub/b.bin": _MiB + 5,
        "sub/deeper/c.bin": 0,
        "sub/deeper/d e.bin": 3,
        "other/f.ipynb": 100,
    }
    digests = {}
    for relative, size in files.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        digests[relative] = write_random(tree / relative, size)
    (tree / "empty").mkdir()
    sftp_endpoint.sftp(f"put -r {tree} tree\n")
    # again, onto the existing tree: mkdir fails, stat says folder, files are replaced
    sftp_endpoint.sftp(f"put -r {tree} tree\n")
    remote = sftp_endpoint.root / "tree"
    for relative, digest in digests.items():
        assert sha256_of(remote / relative) == digest, relative
    assert (remote / "empty").is_dir()
    back = tmp_path / "back"
    sftp_endpoint.sftp(f"get -r tree {back}\n")
    for relative, digest in digests.items():
        assert sha256_of(back / relative) == digest, relative
    assert leftovers(sftp_endpoint.root) == []
