"""``jupyssh sftp serve``'s command line: core's shared server options."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from jupyssh.sftp.cli import parse_size, sftp
from jupyssh.sftp.service import SFTPOptions


def test_finding_10_serve_help_keeps_the_token_out_of_the_url() -> None:
    """A ``?token=`` in --jupyter-url shows in ``ps`` for the server's whole life."""
    text = " ".join(CliRunner().invoke(sftp, ["serve", "--help"]).output.split())
    assert "Give its token in $JUPYTER_TOKEN" in text
    assert "?token=…" not in text
    assert "a token in the URL" not in text
    assert "--max-startups-per-source" in text  # the rest of core's options came along


@pytest.mark.parametrize(
    ("text", "size"),
    [("32M", 32 << 20), ("16G", 16 << 30), ("512k", 512 << 10), ("1MiB", 1 << 20), ("7", 7)],
)
def test_sizes_take_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "1.5G", "-1", "12X", "lots"])
def test_a_size_that_is_no_size_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not a size"):
        parse_size(text)


def test_the_limits_reach_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serve command builds SFTPOptions from its limits (stopped before it connects)."""
    seen: list[SFTPOptions] = []

    def refuse(url: str) -> None:
        raise SystemExit(9)

    original = SFTPOptions.__post_init__

    def record(self: SFTPOptions) -> None:
        original(self)
        seen.append(self)

    monkeypatch.setattr(SFTPOptions, "__post_init__", record)
    monkeypatch.setattr("jupyssh.sftp.cli.connect_jupyter", refuse)
    argv = ["serve", "--jupyter-url", "http://127.0.0.1:1/", "--max-handles", "8"]
    argv += ["--buffer-budget", "8M", "--max-file-size", "1G", "--spill-budget", "2G"]
    assert CliRunner().invoke(sftp, argv).exit_code == 9
    (options,) = seen
    assert (options.max_handles, options.buffer_budget) == (8, 8 << 20)
    assert (options.max_file_size, options.spill_budget) == (1 << 30, 2 << 30)
