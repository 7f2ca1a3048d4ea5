"""``jupyssh sftp serve`` and ``jupyssh bridge serve`` check the Jupyter server before they
listen (security finding 13): a wrong token or an unknown kernel spec is one error line and
an exit, not a server whose every request is denied. Against the real Jupyter container."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyssh_harness import JupyterServer, KeyPair

pytestmark = [pytest.mark.integration]


def serve(
    jupyter_server: JupyterServer,
    keypair: KeyPair,
    tmp_path: Path,
    package: str,
    *options: str,
    token: str,
) -> subprocess.CompletedProcess[str]:
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(keypair.public_line + "\n", encoding="ascii")
    authorized.chmod(0o600)
    argv = [
        str(Path(sys.executable).with_name("jupyssh")),
        package,
        "serve",
        "--jupyter-url",
        jupyter_server.url,
        "--listen",
        "127.0.0.1:0",
        "--authorized-keys",
        str(authorized),
        "--host-key",
        str(tmp_path / "host_key"),
        *options,
    ]
    return subprocess.run(  # a server that started would run into the timeout
        argv,
        env={**os.environ, "JUPYTER_TOKEN": token},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("jupyssh: error:")]


@pytest.mark.parametrize("package", ["sftp", "bridge"])
def test_finding_13_a_wrong_token_stops_serve_before_it_listens(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path: Path, package: str
) -> None:
    result = serve(jupyter_server, keypair, tmp_path, package, token="wrong-token")
    assert result.returncode == 5, result.stderr  # JupyterAuthError
    (line,) = _error_lines(result.stderr)
    assert "status failed" in line
    assert "HTTP 403" in line
    assert result.stdout == ""  # nothing announced: never listened
    assert "wrong-token" not in result.stderr


def test_finding_13_bridge_serve_refuses_an_unknown_kernel_spec(
    jupyter_server: JupyterServer, keypair: KeyPair, tmp_path: Path
) -> None:
    result = serve(
        jupyter_server,
        keypair,
        tmp_path,
        "bridge",
        "--kernel-name",
        "no-such-kernel",
        token=jupyter_server.token,
    )
    assert result.returncode == 3, result.stderr  # ConfigError
    (line,) = _error_lines(result.stderr)
    assert "no kernel spec 'no-such-kernel'" in line
    assert result.stdout == ""
