"""``jupyssh sftp serve``'s command line: core's shared server options."""

from __future__ import annotations

from click.testing import CliRunner

from jupyssh.sftp.cli import sftp


def test_finding_10_serve_help_keeps_the_token_out_of_the_url() -> None:
    """A ``?token=`` in --jupyter-url shows in ``ps`` for the server's whole life."""
    text = " ".join(CliRunner().invoke(sftp, ["serve", "--help"]).output.split())
    assert "Give its token in $JUPYTER_TOKEN" in text
    assert "?token=…" not in text
    assert "a token in the URL" not in text
    assert "--max-startups-per-source" in text  # the rest of core's options came along
