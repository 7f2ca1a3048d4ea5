"""Errors, log redaction, paths and the program runner."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from jupyssh.core import errors, paths
from jupyssh.core.log import RedactingFilter, configure_logging, redact
from jupyssh.core.process import run_program


def test_error_line_names_what_where_and_next_step() -> None:
    error = errors.SSHAuthenticationError("refused", where="lab", hint="check the key")
    assert str(error) == "refused [lab]: check the key"
    assert error.to_dict()["kind"] == "authentication"
    assert error.exit_code == 5


def test_exit_codes_cover_every_kind() -> None:
    codes = errors.exit_codes()
    assert codes["error"] == 1
    assert codes["config"] == 3
    assert codes["host-key-changed"] == 6
    assert codes["remote-command-not-found"] == 7
    assert len(codes) >= 20


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET http://h:8888/lab?token=abc123&x=1", "abc123"),
        ("headers {'Authorization': 'token s3cr3t'}", "s3cr3t"),
        ("Authorization: Bearer eyJhbGci", "eyJhbGci"),
        ('{"key": "a0b1c2", "ip": "127.0.0.1"}', "a0b1c2"),
    ],
)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "<redacted>" in cleaned


def test_redacting_filter_masks_formatted_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url %s", ("/?token=zz9",), None)
    assert RedactingFilter().filter(record)
    assert "zz9" not in record.getMessage()


def test_jupyssh_home_moves_every_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYSSH_HOME", str(tmp_path))
    assert paths.config_dir() == tmp_path / "config"
    assert paths.state_dir() == tmp_path / "state"
    assert paths.cache_dir() == tmp_path / "cache"
    assert paths.runtime_dir() == tmp_path / "run"


def test_private_dir_is_0700(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    folder.parent.mkdir(mode=0o755)
    paths.ensure_private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o755)
    paths.ensure_private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.asyncio
async def test_program_gets_input_and_returns_output() -> None:
    done = await run_program(
        [sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1])"],
        input=b"abc",
        timeout=30,
    )
    assert (done.returncode, done.stdout_text) == (0, "cba\n")


@pytest.mark.asyncio
async def test_program_and_its_children_are_killed_on_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    with pytest.raises(errors.OperationTimeout, match="napper did not finish"):
        await run_program([sys.executable, "-c", script], timeout=1.5, what="napper")
    child = int(marker.read_text())
    for _ in range(100):  # up to 5 s for the kernel to reap it
        if not _alive(child):
            break
        await asyncio.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


@pytest.mark.asyncio
async def test_missing_program_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="program not found: no-such-program-x"):
        await run_program(["no-such-program-x"], timeout=5)


def test_log_lines_go_to_the_current_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI run again with stderr replaced (tests, embedding applications) must not write
    to the stream an earlier run configured logging with, which may be closed by now."""
    earlier = io.StringIO()
    monkeypatch.setattr(sys, "stderr", earlier)
    configure_logging(0)
    monkeypatch.undo()
    earlier.close()
    logging.getLogger("jupyssh.test").warning("still heard token=abc")
    assert "jupyssh: WARNING jupyssh.test: still heard token=<redacted>" in capsys.readouterr().err
