"""jupyssh-mcp's files tools end to end, through the SDK's stdio client: on an ssh alias
over SFTP through its control master (a real sshd's sftp-server), and on a real Jupyter
server's Contents API. Results are checked against the files themselves (acceptance 1),
bad paths and read-only mode are clear tool errors that write nothing (3), and no token
is in a result or a log line (4)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jupyssh_harness import JupyterServer, SSHContainer, lines_with
from mcp import Client

from jupyssh.mcp.testing import tool_data as ok
from jupyssh.mcp.testing import tool_error as refused

from .conftest import Server, mcp_client, write_settings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HOME = "/home/sandbox"
WORK = f"{HOME}/mcp-files"
TOKEN_IN_FILE = "c0ffee0123456789abcdef0123456789"
BLOB = bytes(range(256))
BIG = "".join(f"{i:04d}\n" for i in range(1000))  # 5000 bytes


def sandbox_sh(ssh_host: SSHContainer, script: str) -> str:
    """Run ``script`` on the host as the ssh user (docker exec, not ssh)."""
    return ssh_host.exec(["sh", "-c", script], user="sandbox").stdout


async def call(client: Client, seen: list[str], tool: str, **args: Any) -> Any:
    """Call ``tool``; keep the whole result's JSON for the secret scan."""
    result = await client.call_tool(tool, args)
    seen.append(json.dumps(result.model_dump(mode="json")))
    return result


async def test_files_on_an_alias_over_sftp(ssh_host: SSHContainer, home: Path) -> None:
    blob64 = base64.b64encode(BLOB).decode()
    sandbox_sh(
        ssh_host,
        f"rm -rf {WORK} && mkdir -p {WORK}/sub && cd {WORK}"
        " && printf 'hello\\nworld\\n' > notes.txt"
        f" && echo {blob64} | base64 -d > blob.bin && printf '%s' '{BIG}' > big.txt"
        f" && printf 'url: http://h:8888/?token={TOKEN_IN_FILE}\\n' > secret.txt"
        f" && ln -s /etc escape && chmod 640 notes.txt",
    )
    server = write_settings(home, ssh_host, max_output_bytes=1000, max_write_bytes=2000)
    alias, seen = ssh_host.alias, []
    async with mcp_client(server) as client:
        listed = ok(await call(client, seen, "files_list", path="mcp-files", alias=alias))
        assert listed["path"] == WORK
        assert {(e["name"], e["type"]) for e in listed["entries"]} == {
            ("sub", "directory"),
            ("notes.txt", "file"),
            ("blob.bin", "file"),
            ("big.txt", "file"),
            ("secret.txt", "file"),
            ("escape", "symlink"),
        }
        stat = ok(await call(client, seen, "files_stat", path=f"{WORK}/notes.txt", alias=alias))
        assert (stat["type"], stat["size"], stat["mode"]) == ("file", 12, "0640")

        text = ok(await call(client, seen, "files_read", path="mcp-files/notes.txt", alias=alias))
        assert (text["content"], text["encoding"], text["truncated"]) == (
            "hello\nworld\n",
            "utf-8",
            False,
        )
        blob = ok(await call(client, seen, "files_read", path="mcp-files/blob.bin", alias=alias))
        assert blob["encoding"] == "base64"
        assert base64.b64decode(blob["content"]) == BLOB

        big = ok(await call(client, seen, "files_read", path="mcp-files/big.txt", alias=alias))
        assert (big["content"], big["truncated"], big["next_offset"]) == (BIG[:1000], True, 1000)
        assert "bytes 0-1000 of 5000" in big["note"]
        tail = ok(
            await call(
                client, seen, "files_read", path="mcp-files/big.txt", alias=alias, offset=4500
            )
        )
        assert (tail["content"], tail["truncated"]) == (BIG[4500:], False)

        secret = ok(
            await call(client, seen, "files_read", path="mcp-files/secret.txt", alias=alias)
        )
        assert "<redacted>" in secret["content"]

        made = ok(
            await call(
                client, seen, "files_write", path="mcp-files/sub/new.txt", content="made\n",
                alias=alias,
            )
        )  # fmt: skip
        assert (made["bytes"], made["replaced"], made["size"]) == (5, False, 5)
        assert sandbox_sh(ssh_host, f"cat {WORK}/sub/new.txt") == "made\n"
        again = refused(
            await call(
                client, seen, "files_write", path="mcp-files/sub/new.txt", content="x",
                alias=alias,
            )
        )  # fmt: skip
        assert "the file exists" in again
        ok(
            await call(
                client, seen, "files_write", path="mcp-files/notes.txt", alias=alias,
                content=base64.b64encode(b"\x00new\xff").decode(), encoding="base64",
                overwrite=True,
            )
        )  # fmt: skip
        assert sandbox_sh(ssh_host, f"od -An -tx1 {WORK}/notes.txt").split() == [
            "00", "6e", "65", "77", "ff",
        ]  # fmt: skip
        # replaced atomically: the old file's mode kept, no temporary file left
        assert sandbox_sh(ssh_host, f"stat -c %a {WORK}/notes.txt").strip() == "640"
        assert ".jupyssh-" not in sandbox_sh(ssh_host, f"ls -a {WORK} {WORK}/sub")

        before = sandbox_sh(ssh_host, f"ls -laR {WORK}")
        bad = {
            "outside": ("files_read", {"path": "../../etc/passwd"}),
            "absolute": ("files_read", {"path": "/etc/passwd"}),
            "link out": ("files_read", {"path": "mcp-files/escape/passwd"}),
            "missing": ("files_read", {"path": "mcp-files/nope.txt"}),
            "directory": ("files_read", {"path": "mcp-files/sub"}),
            "not a dir": ("files_list", {"path": "mcp-files/notes.txt"}),
            "write dir": ("files_write", {"path": "mcp-files/sub", "content": "x"}),
            "too large": ("files_write", {"path": "mcp-files/huge.txt", "content": "x" * 2001}),
            "write out": ("files_write", {"path": "mcp-files/escape/x", "content": "x"}),
            "no folder": ("files_write", {"path": "mcp-files/none/x.txt", "content": "x"}),
        }
        messages = {}
        for case, (tool, args) in bad.items():
            messages[case] = refused(await call(client, seen, tool, alias=alias, **args))
        assert sandbox_sh(ssh_host, f"ls -laR {WORK}") == before  # nothing written
        assert "outside the root" in messages["outside"]
        assert "outside the root" in messages["absolute"]
        assert "leads outside the root" in messages["link out"]
        assert "no such file or directory" in messages["missing"]
        assert "is a directory" in messages["directory"]
        assert "not a directory" in messages["not a dir"]
        assert "a directory is in the way" in messages["write dir"]
        assert "larger than the 2000 bytes" in messages["too large"]
        assert "outside the root" in messages["write out"]
        assert "not a directory" in messages["no folder"]
        assert "not on the MCP allowlist" in refused(
            await call(client, seen, "files_read", path="x", alias="not-listed")
        )
    async with mcp_client(server, "--read-only") as client:
        text = refused(
            await call(
                client, seen, "files_write", path="mcp-files/ro.txt", content="x", alias=alias
            )
        )
        assert "read-only mode" in text
        assert ok(await call(client, seen, "files_stat", path="mcp-files", alias=alias))[
            "type"
        ] == ("directory")
    assert sandbox_sh(ssh_host, f"test -e {WORK}/ro.txt || echo absent").strip() == "absent"
    scan(server, seen, [TOKEN_IN_FILE])


async def test_a_root_in_the_settings_bounds_the_alias(ssh_host: SSHContainer, home: Path) -> None:
    sandbox_sh(ssh_host, f"mkdir -p {WORK}/rooted && echo inside > {WORK}/rooted/in.txt")
    server = write_settings(home, ssh_host, roots={ssh_host.alias: f"{WORK}/rooted"})
    async with mcp_client(server) as client:
        listed = ok(await client.call_tool("files_list", {"alias": ssh_host.alias}))
        assert [e["name"] for e in listed["entries"]] == ["in.txt"]
        text = refused(
            await client.call_tool("files_read", {"alias": ssh_host.alias, "path": "../notes.txt"})
        )
        assert f"outside the root {WORK}/rooted" in text
        # a few MB through the pipes (partial writes) arrive whole
        payload = os.urandom(3 * 1024 * 1024)
        wrote = ok(
            await client.call_tool(
                "files_write",
                {
                    "alias": ssh_host.alias,
                    "path": "big.bin",
                    "content": base64.b64encode(payload).decode(),
                    "encoding": "base64",
                },
            )
        )
        assert wrote["size"] == len(payload)
        remote = sandbox_sh(ssh_host, f"sha256sum {WORK}/rooted/big.bin").split()[0]
        assert remote == hashlib.sha256(payload).hexdigest()


async def test_files_on_a_jupyter_server(
    ssh_host: SSHContainer, jupyter_server: JupyterServer, home: Path
) -> None:
    root = jupyter_server.host_dir
    assert root is not None
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub").chmod(0o777)  # the server runs as its own user in the container
    (root / "notes.txt").write_text("hello\n")
    (root / "blob.bin").write_bytes(BLOB)
    (root / "big.txt").write_text(BIG)
    # the server's own token in a file, in no form redact's patterns know
    (root / "saved.txt").write_text(f"the lab's password is {jupyter_server.token}\n")
    token_file = home / "lab.token"
    token_file.write_text(jupyter_server.token)
    token_file.chmod(0o600)
    servers = {"lab": {"url": jupyter_server.url, "token_file": str(token_file)}}
    server = write_settings(home, ssh_host, jupyter_servers=servers, max_output_bytes=1000)
    seen: list[str] = []
    async with mcp_client(server) as client:
        listed = ok(await call(client, seen, "files_list", server="lab"))
        names = {(e["name"], e["type"]) for e in listed["entries"]}
        assert {("sub", "directory"), ("notes.txt", "file"), ("blob.bin", "file")} <= names
        assert listed["where"] == "jupyter:lab"
        stat = ok(await call(client, seen, "files_stat", path="notes.txt", server="lab"))
        assert (stat["type"], stat["size"]) == ("file", 6)
        text = ok(await call(client, seen, "files_read", path="/notes.txt", server="lab"))
        assert (text["content"], text["encoding"]) == ("hello\n", "utf-8")
        blob = ok(await call(client, seen, "files_read", path="blob.bin", server="lab"))
        assert base64.b64decode(blob["content"]) == BLOB
        saved = ok(await call(client, seen, "files_read", path="saved.txt", server="lab"))
        assert saved["content"] == "the lab's password is <redacted>\n"
        big = ok(await call(client, seen, "files_read", path="big.txt", server="lab", offset=10))
        assert (big["content"], big["next_offset"]) == (BIG[10:1010], 1010)

        made = ok(
            await call(
                client, seen, "files_write", path="sub/new.txt", content="made", server="lab"
            )
        )
        assert made["bytes"] == 4
        assert (root / "sub" / "new.txt").read_text() == "made"
        before = sorted(str(p) for p in root.rglob("*"))
        for tool, args, message in [
            ("files_read", {"path": "../etc/passwd"}, "outside the root"),
            ("files_read", {"path": "nope.txt"}, "no such file or directory on jupyter:lab"),
            ("files_read", {"path": "sub"}, "is a directory"),
            ("files_write", {"path": "sub", "content": "x"}, "a directory is in the way"),
            ("files_write", {"path": "sub/new.txt", "content": "x"}, "the file exists"),
            ("files_write", {"path": "none/x.txt", "content": "x"}, "not a directory"),
        ]:
            assert message in refused(await call(client, seen, tool, server="lab", **args))
        assert sorted(str(p) for p in root.rglob("*")) == before
        assert (root / "sub" / "new.txt").read_text() == "made"
        assert "not in the MCP settings" in refused(
            await call(client, seen, "files_list", server="other")
        )
        assert "exactly one place" in refused(
            await call(client, seen, "files_list", server="lab", alias=ssh_host.alias)
        )
    scan(server, seen, [jupyter_server.token])


def scan(server: Server, results: list[str], secrets: list[str]) -> None:
    """Acceptance 4: no secret in a result, the audit log or the server's stderr."""
    logs = [server.audit_log.read_text(), server.stderr.read_text()]
    assert "files_read" in logs[0]
    for text in [*results, *logs]:
        assert not lines_with(text, secrets)
