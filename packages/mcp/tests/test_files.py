"""The files tools' policy on an in-memory store: paths kept under the root, reads capped
with the cut said, binary as base64, and every refusal one clear error with nothing
written (the SFTP and Contents API stores are proven against containers in integration/)."""

from __future__ import annotations

import base64
import posixpath

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.mcp.files import Entry, Files, under_root

pytestmark = pytest.mark.asyncio

ROOT = "/home/ada"


class MemoryStore:
    """Files and folders by absolute path; ``writes`` records what was written."""

    where = "lab"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {f"{ROOT}/notes.txt": b"hello\n"}
        self.dirs = {ROOT, f"{ROOT}/data"}
        self.writes: list[str] = []

    async def resolve(self, path: str, *, for_write: bool = False) -> str:
        real = under_root(ROOT, path)
        if for_write and posixpath.dirname(real) not in self.dirs:
            raise ConfigError("the folder to write in is not a directory", where=path)
        return real

    async def stat(self, path: str) -> Entry | None:
        name = posixpath.basename(path)
        if path in self.dirs:
            return Entry(name, path, "directory")
        if path in self.files:
            return Entry(name, path, "file", size=len(self.files[path]))
        return None

    async def listdir(self, path: str) -> list[Entry]:
        found = [p for p in [*self.files, *self.dirs] if posixpath.dirname(p) == path]
        return [e for e in [await self.stat(p) for p in found] if e is not None]

    async def read(self, path: str, offset: int, length: int) -> bytes:
        return self.files[path][offset : offset + length]

    async def write(self, path: str, data: bytes) -> None:
        self.writes.append(path)
        self.files[path] = data


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


FILES = Files(max_read=10, max_write=20)


async def test_a_text_file_is_read_whole_when_it_fits(store: MemoryStore) -> None:
    read = await FILES.read(store, "notes.txt", 0, None)
    assert (read["content"], read["encoding"], read["truncated"]) == ("hello\n", "utf-8", False)
    assert read["path"] == f"{ROOT}/notes.txt"


async def test_a_read_past_the_cap_is_cut_and_says_where_to_read_on(store: MemoryStore) -> None:
    store.files[f"{ROOT}/big.txt"] = b"0123456789abcdefghij!"
    read = await FILES.read(store, "big.txt", 0, None)
    assert (read["content"], read["truncated"], read["next_offset"]) == ("0123456789", True, 10)
    assert "bytes 0-10 of 21" in read["note"]
    rest = await FILES.read(store, "big.txt", 20, None)
    assert (rest["content"], rest["truncated"]) == ("!", False)


async def test_a_character_split_by_the_cut_is_left_for_the_next_read(store: MemoryStore) -> None:
    store.files[f"{ROOT}/u.txt"] = "aaaaaaaaaé-rest".encode()  # é is bytes 9 and 10
    read = await FILES.read(store, "u.txt", 0, None)
    assert (read["content"], read["next_offset"]) == ("aaaaaaaaa", 9)
    assert (await FILES.read(store, "u.txt", 9, None))["content"].startswith("é")


async def test_binary_content_comes_as_base64(store: MemoryStore) -> None:
    store.files[f"{ROOT}/b.bin"] = b"\x00\xff\x01"
    read = await FILES.read(store, "b.bin", 0, None)
    assert read["encoding"] == "base64"
    assert base64.b64decode(read["content"]) == b"\x00\xff\x01"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../other/secret", "outside the root"),
        ("/etc/passwd", "outside the root"),
        ("missing.txt", "no such file or directory"),
        ("data", "this is a directory"),
        ("a\0b", "NUL"),
    ],
)
async def test_a_bad_path_to_read_is_one_clear_error(
    store: MemoryStore, path: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await FILES.read(store, path, 0, None)


async def test_a_write_creates_and_replaces_only_when_told(store: MemoryStore) -> None:
    done = await FILES.write(store, "data/new.txt", "fresh", "utf-8", overwrite=False)
    assert (done["bytes"], done["replaced"], done["size"]) == (5, False, 5)
    with pytest.raises(ConfigError, match="the file exists"):
        await FILES.write(store, "data/new.txt", "again", "utf-8", overwrite=False)
    assert store.files[f"{ROOT}/data/new.txt"] == b"fresh"
    done = await FILES.write(store, "data/new.txt", "YWdhaW4=", "base64", overwrite=True)
    assert done["replaced"] is True
    assert store.files[f"{ROOT}/data/new.txt"] == b"again"


@pytest.mark.parametrize(
    ("path", "content", "encoding", "message"),
    [
        ("x.txt", "a" * 21, "utf-8", "larger than the 20 bytes"),
        ("data", "x", "utf-8", "a directory is in the way"),
        ("../escape.txt", "x", "utf-8", "outside the root"),
        ("nofolder/x.txt", "x", "utf-8", "not a directory"),
        ("x.txt", "not base64!", "base64", "not valid base64"),
        ("x.txt", "x", "latin-1", "unknown encoding"),
    ],
)
async def test_a_refused_write_writes_nothing(
    store: MemoryStore, path: str, content: str, encoding: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await FILES.write(store, path, content, encoding, overwrite=True)
    assert store.writes == []


async def test_list_and_stat(store: MemoryStore) -> None:
    listed = await FILES.list(store, "")
    assert [(e["name"], e["type"]) for e in listed["entries"]] == [
        ("data", "directory"),
        ("notes.txt", "file"),
    ]
    with pytest.raises(ConfigError, match="not a directory"):
        await FILES.list(store, "notes.txt")
    stat = await FILES.stat(store, "notes.txt")
    assert (stat["type"], stat["size"], stat["where"]) == ("file", 6, "lab")
    with pytest.raises(ConfigError, match="no such file"):
        await FILES.stat(store, "nope")


@pytest.mark.parametrize("path", ["../etc/passwd", "/../etc/passwd", "a/../../b"])
async def test_a_jupyter_path_may_not_climb_out_of_the_servers_root(path: str) -> None:
    from jupyssh.mcp.providers.files_jupyter import ContentsStore

    store = ContentsStore("lab", client=None)  # type: ignore[arg-type] # refused before any request
    with pytest.raises(ConfigError, match="outside the root"):
        await store.resolve(path)


@pytest.mark.parametrize(
    ("path", "relative"), [("/a/b.txt", "a/b.txt"), ("", ""), ("a/./c", "a/c")]
)
async def test_a_jupyter_path_is_relative_to_the_servers_root(path: str, relative: str) -> None:
    from jupyssh.mcp.providers.files_jupyter import ContentsStore

    store = ContentsStore("lab", client=None)  # type: ignore[arg-type]
    assert await store.resolve(path) == relative
