"""The kernel's HMAC key is in no process's argv, here or on the host, and in no log line at
``-vvv``, through a whole ``jupyssh kernel launch`` run (hardening issue, acceptance 4)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from jupyssh_harness import ArgvWatch, SSHContainer, lines_with, wait_for


def test_kernel_key_is_in_no_argv_and_no_vvv_log(
    ssh_host: SSHContainer, kernel_spec: tuple[str, Path], jupyter_home: Path
) -> None:
    name, _ = kernel_spec
    key = ""
    connection_file = jupyter_home / "watched.json"
    argv = [sys.executable, "-m", "jupyssh.kernel", "launch", "-vvv", name]
    with ArgvWatch(containers=[ssh_host.container]) as watch:
        launch = subprocess.Popen(
            [*argv, "--connection-file", str(connection_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(connection_file.exists, 60, "the connection file")
            from jupyter_client import BlockingKernelClient

            kc = BlockingKernelClient(connection_file=str(connection_file))
            kc.load_connection_file()
            key = kc.session.key.decode()  # the launch removes the file at shutdown
            kc.start_channels(hb=False)
            try:
                kc.wait_for_ready(timeout=60)
                reply = kc.execute_interactive("import os; os.getpid()", timeout=30)
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
            launch.send_signal(signal.SIGTERM)
            out, err = launch.communicate(timeout=60)
        finally:
            if launch.poll() is None:
                launch.kill()
                launch.communicate(timeout=10)
    assert key, "the launch wrote no key: the test would prove nothing"
    assert watch.samples > 5
    assert "DEBUG" in err, "no -vvv output captured: the log check would be blind"
    assert watch.holding([key]) == []
    assert lines_with(out + err, [key]) == []
