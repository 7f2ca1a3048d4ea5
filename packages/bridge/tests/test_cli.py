"""``jupyssh bridge serve``'s command line: core's shared server options."""

from __future__ import annotations

import re

from click.testing import CliRunner

from jupyssh.bridge.cli import bridge
from jupyssh.bridge.server import MAX_CHANNELS
from jupyssh.core.server import ServerConfig


def test_finding_10_serve_help_keeps_the_token_out_of_the_url() -> None:
    """A ``?token=`` in --jupyter-url shows in ``ps`` for the server's whole life."""
    text = " ".join(CliRunner().invoke(bridge, ["serve", "--help"]).output.split())
    assert "Give its token in $JUPYTER_TOKEN" in text
    assert "?token=…" not in text
    assert "a token in the URL" not in text
    assert "--max-startups-per-source" in text  # the rest of core's options came along


def test_a_malformed_permit_is_a_usage_error_before_anything_connects() -> None:
    result = CliRunner().invoke(
        bridge,
        ["serve", "--jupyter-url", "http://127.0.0.1:9/", "--permit-open", "8080"],
        env={"JUPYTER_TOKEN": "t"},
    )
    assert result.exit_code == 2
    assert "--permit-open" in result.output
    assert "host:port" in result.output


def test_serve_help_names_the_forwarding_options() -> None:
    text = " ".join(CliRunner().invoke(bridge, ["serve", "--help"]).output.split())
    for option in ("--forwarding", "--permit-open", "--permit-listen", "--gateway-ports"):
        assert option in text


def test_serve_allows_more_channels_than_core_servers_for_forwards() -> None:
    """Forwarded connections are channels: the bridge's default is its own, above the
    64 of core's servers (the integration test's 100 forwards run with it)."""
    text = " ".join(CliRunner().invoke(bridge, ["serve", "--help"]).output.split())
    shown = re.search(r"--max-channels .*?default: (\d+)", text)
    assert shown is not None
    assert int(shown.group(1)) == MAX_CHANNELS == 256
    assert ServerConfig().max_channels < MAX_CHANNELS
