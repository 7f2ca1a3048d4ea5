"""The argv watch that the secret tests rely on sees what it must (else they prove nothing)."""

from __future__ import annotations

import subprocess

from jupyssh_harness import ArgvWatch, SSHContainer


def test_argv_watch_sees_an_argv_here_and_in_a_container(ssh_host: SSHContainer) -> None:
    with ArgvWatch(containers=[ssh_host.container]) as watch:
        local = subprocess.Popen(["sh", "-c", "sleep 1", "argv-watch-local-marker"])
        ssh_host.exec(["sh", "-c", "sleep 1", "argv-watch-remote-marker"])
        local.wait(timeout=10)
    assert watch.samples >= 2
    assert len(watch.holding(["argv-watch-local-marker"])) == 1
    assert len(watch.holding(["argv-watch-remote-marker"])) == 1
    assert watch.holding(["argv-watch-absent-marker"]) == []
