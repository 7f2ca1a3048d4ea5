"""The remote scripts' output parsing, and the discovery script itself run by a local sh."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jupyssh.tunnel.jupyter.remote import (
    _DISCOVER,
    ServerRecord,
    parse_discovery,
)

RECORD = {
    "base_url": "/",
    "hostname": "127.0.0.1",
    "password": False,
    "pid": 42,
    "port": 8888,
    "root_dir": "/home/u",
    "secure": False,
    "sock": "",
    "token": "secret-token",
    "url": "http://127.0.0.1:8888/",
    "version": "2.14.0",
}


def _block(alive: str, path: str, body: str) -> str:
    return f"jupyssh-record {alive} {path}\n{body}\njupyssh-end\n"


def test_parse_discovery_reads_records_and_skips_broken_ones() -> None:
    newer = dict(RECORD, pid=77, sock="/run/u/j.sock")
    text = (
        "jupyssh-runtime-dir /home/u/.local/share/jupyter/runtime\n"
        + _block("no", "/r/jpserver-42.json", json.dumps(RECORD, indent=2))
        + _block("yes", "/r/jpserver-77.json", json.dumps(newer))
        + _block("yes", "/r/jpserver-9.json", '{"pid": 9, "port": ')  # half-written
        + _block("yes", "/r/jpserver-8.json", "[1, 2]")
    )
    found = parse_discovery(text)
    assert found.runtime_dir == "/home/u/.local/share/jupyter/runtime"
    assert [r.pid for r in found.records] == [42, 77]
    assert [r.pid for r in found.candidates()] == [77, 42]  # live first
    live = found.candidates()[0]
    assert live.alive
    assert live.remote_target() == "/run/u/j.sock"
    assert found.records[0].remote_target() == ("127.0.0.1", 8888)


@pytest.mark.parametrize("hostname", ["", "0.0.0.0", "::", "localhost"])  # noqa: S104
def test_a_wildcard_or_localhost_server_is_reached_on_the_loopback(hostname: str) -> None:
    record = ServerRecord.from_json("/r/x.json", True, dict(RECORD, hostname=hostname))
    assert record.remote_target() == ("127.0.0.1", 8888)


def test_a_record_keeps_its_token_out_of_repr_and_json() -> None:
    record = ServerRecord.from_json("/r/x.json", True, dict(RECORD, base_url="/jh"))
    assert "secret-token" not in repr(record)
    assert "secret-token" not in json.dumps(record.to_dict())
    assert record.base_url == "/jh/"
    assert record.token == "secret-token"


def test_the_discovery_script_lists_records_without_deleting_any(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    mine = runtime / f"jpserver-{os.getpid()}.json"
    mine.write_text(json.dumps(dict(RECORD, pid=os.getpid())))
    other = runtime / "jpserver-4194303.json"  # pid_max: no such process here
    other.write_text(json.dumps(dict(RECORD, pid=4194303)))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(runtime)}
    done = subprocess.run(
        ["sh", "-s"], input=_DISCOVER, capture_output=True, text=True, env=env, timeout=30,
        check=True,
    )  # fmt: skip
    found = parse_discovery(done.stdout)
    assert found.runtime_dir == str(runtime)
    alive = {r.pid: r.alive for r in found.records}
    assert alive == {os.getpid(): True, 4194303: False}
    assert mine.exists()
    assert other.exists()
