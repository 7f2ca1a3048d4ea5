"""The pure parts: path mapping, status mapping, attributes, side names and the CLI's
options."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED

from jupyssh.core.errors import (
    ConfigError,
    JupyterAuthError,
    JupyterError,
    JupyterHTTPError,
    JupyterNotFoundError,
)
from jupyssh.sftp import SFTPOptions
from jupyssh.sftp.attrs import attributes, model_mtime
from jupyssh.sftp.cli import sftp
from jupyssh.sftp.paths import PathRefused, contents_path, sftp_path
from jupyssh.sftp.service import side_name
from jupyssh.sftp.status import from_jupyter_error


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/", ""),
        ("", ""),
        (".", ""),
        ("~", ""),
        ("~/a", "a"),
        ("a//b/./c", "a/b/c"),
        ("/a/b/../c", "a/c"),
        ("a..b/..c../...", "a..b/..c../..."),
        ("with space/#?%", "with space/#?%"),
        ("%2e%2e/x", "%2e%2e/x"),
        ("ünïcødé", "ünïcødé"),
    ],
)
def test_contents_path(given: str, expected: str) -> None:
    assert contents_path(given) == expected
    assert sftp_path(expected) == "/" + expected


@pytest.mark.parametrize(
    "given", ["..", "/..", "../x", "a/../../x", "~/..", "a\\b", "a\x00", "~bob"]
)
def test_refused_paths(given: str) -> None:
    with pytest.raises(PathRefused):
        contents_path(given)


def test_status_mapping() -> None:
    assert from_jupyter_error(JupyterNotFoundError("x", status=404), "a").code == SFTP_NO_SUCH_FILE
    hidden = from_jupyter_error(JupyterNotFoundError("x", status=404), "d/.env")
    assert hidden.code == SFTP_PERMISSION_DENIED
    assert "allow_hidden" in hidden.message
    refused = from_jupyter_error(JupyterHTTPError("bad", status=400), ".ssh/k")
    assert refused.code == SFTP_PERMISSION_DENIED
    assert (
        from_jupyter_error(JupyterAuthError("no", status=403), "a").code == SFTP_PERMISSION_DENIED
    )
    conflict = from_jupyter_error(JupyterHTTPError("exists (HTTP 409)", status=409), "a")
    assert conflict.code == SFTP_FAILURE
    assert "exists" in conflict.message
    assert from_jupyter_error(JupyterError("down"), "a").code == SFTP_FAILURE


def test_attributes_of_models() -> None:
    base = {
        "name": "n",
        "path": "d/n",
        "created": "",
        "mimetype": None,
        "content": None,
        "format": None,
    }
    folder = attributes(
        {
            **base,
            "type": "directory",
            "writable": False,
            "size": None,
            "last_modified": "2024-01-02T03:04:05.123Z",
        }
    )  # type: ignore[typeddict-item]
    assert folder.st_mode == stat.S_IFDIR | 0o555
    assert folder.st_size == 0
    assert folder.st_mtime == 1704164645
    file = attributes(
        {**base, "type": "notebook", "writable": True, "size": 7, "last_modified": "garbage"}
    )  # type: ignore[typeddict-item]
    assert file.st_mode == stat.S_IFREG | 0o644
    assert file.st_size == 7
    assert file.st_mtime is None
    assert model_mtime({"last_modified": "2024-01-02T03:04:05"}) == 1704164645  # type: ignore[typeddict-item]


def test_side_names_stay_in_the_folder_and_short() -> None:
    name = side_name("a/b/file.txt", "part")
    assert name.startswith("a/b/file.txt.jupyssh-")
    assert name.endswith(".part")
    assert side_name("x", "old") != side_name("x", "old")
    long = side_name("é" * 200, "part")
    assert len(long.encode()) < 255


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        SFTPOptions(chunk_size=10)
    with pytest.raises(ConfigError):
        SFTPOptions(read_ahead=0)


def test_serve_needs_a_url() -> None:
    result = CliRunner().invoke(sftp, ["serve"])
    assert result.exit_code != 0
    assert "--jupyter-url" in result.output
