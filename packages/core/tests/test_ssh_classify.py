"""ssh's own failure messages (OpenSSH 8.x to 9.x wording) map to their typed errors."""

from __future__ import annotations

import pytest

from jupyssh.core.errors import (
    ControlMasterError,
    ForwardingError,
    HostKeyChangedError,
    HostKeyUnknownError,
    SSHAuthenticationError,
    SSHConnectError,
    SSHConnectionRefused,
    SSHError,
    SSHNameResolutionError,
    SSHTimeout,
)
from jupyssh.core.ssh import classify_ssh_failure, match_ssh_failure

CHANGED = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Host key for [127.0.0.1]:32768 has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (CHANGED, HostKeyChangedError),
        (
            "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested "
            "strict checking.\nHost key verification failed.\n",
            HostKeyUnknownError,
        ),
        (
            "ssh: Could not resolve hostname nowhere.invalid: Name or service not known\n",
            SSHNameResolutionError,
        ),
        (
            "ssh: Could not resolve hostname x: Temporary failure in name resolution\n",
            SSHNameResolutionError,
        ),
        (
            "channel 0: open failed: connect failed: Name or service not known\n"
            "stdio forwarding failed\n",
            SSHNameResolutionError,
        ),
        ("ssh: connect to host 127.0.0.1 port 1: Connection refused\n", SSHConnectionRefused),
        ("channel 0: open failed: connect failed: Connection refused\n", SSHConnectionRefused),
        ("ssh: connect to host 10.255.255.1 port 22: Connection timed out\n", SSHTimeout),
        (
            "Connection timed out during banner exchange\nConnection to 1.2.3.4 port 22 "
            "timed out\n",
            SSHTimeout,
        ),
        ("sandbox@127.0.0.1: Permission denied (publickey).\n", SSHAuthenticationError),
        (
            "Received disconnect from 1.2.3.4 port 22:2: Too many authentication failures\n",
            SSHAuthenticationError,
        ),
        ("ssh: connect to host 10.0.0.1 port 22: No route to host\n", SSHConnectError),
        (
            "mux_client_forward: forwarding request failed: Port forwarding failed\n",
            ForwardingError,
        ),
        (
            "Control socket connect(/tmp/cm-abc): No such file or directory\n",
            ControlMasterError,
        ),
        ("kex_exchange_identification: Connection closed by remote host\n", SSHConnectError),
    ],
)
def test_each_message_gives_its_error(stderr: str, expected: type[SSHError]) -> None:
    error = classify_ssh_failure(stderr, where="lab")
    assert type(error) is expected
    assert error.where == "lab"
    assert error.hint
    assert error.stderr == stderr.strip().splitlines()[-1].strip()


def test_unknown_failure_keeps_sshs_last_line() -> None:
    error = classify_ssh_failure("debug1: x\nsomething odd happened\n\n", where="lab")
    assert type(error) is SSHError
    assert "something odd happened" in error.message
    assert match_ssh_failure("something odd happened", where="lab") is None


def test_empty_stderr() -> None:
    assert "without a message" in classify_ssh_failure("", where="lab").message
