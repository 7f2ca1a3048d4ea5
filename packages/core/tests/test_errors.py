"""The typed errors: one constructor and one to_dict for every class, names ending in Error."""

from __future__ import annotations

import pytest

from jupyssh.core import errors
from jupyssh.core.errors import (
    JupysshError,
    JupyterHTTPError,
    RemoteCommandError,
    SSHAuthenticationError,
    SSHError,
)


def _tree() -> list[type[JupysshError]]:
    found, stack = [], [JupysshError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_str_is_message_where_hint() -> None:
    error = SSHAuthenticationError("authentication was refused", where="lab", hint="check User")
    assert str(error) == "authentication was refused [lab]: check User"


def test_each_class_adds_its_facts_to_the_dict() -> None:
    assert SSHError("x", stderr="Permission denied").to_dict() == {
        "kind": "ssh",
        "message": "x",
        "where": None,
        "hint": None,
        "exit_code": 4,
        "stderr": "Permission denied",
    }
    remote = RemoteCommandError("y", where="lab", stderr="boom", returncode=3)
    assert (remote.stderr, remote.returncode) == ("boom", 3)
    assert remote.to_dict()["returncode"] == 3
    assert remote.to_dict()["stderr"] == "boom"
    http = JupyterHTTPError("z", status=404)
    assert http.status == 404
    assert http.to_dict()["status"] == 404
    assert JupyterHTTPError("z").status == 0  # the default
    assert "stderr" not in JupysshError("w").to_dict()


def test_unknown_or_mistyped_facts_are_refused() -> None:
    with pytest.raises(TypeError, match="takes no fact status"):
        SSHError("x", status=1)
    with pytest.raises(TypeError, match="returncode must be int"):
        RemoteCommandError("x", returncode="3")


def test_core_class_names_end_in_error_and_old_names_remain() -> None:
    core = [cls for cls in _tree() if cls.__module__ == errors.__name__]
    assert [cls.__name__ for cls in core if not cls.__name__.endswith("Error")] == []
    assert errors.OperationTimeout is errors.OperationTimeoutError
    assert errors.SSHConnectionRefused is errors.SSHConnectionRefusedError
    assert errors.SSHTimeout is errors.SSHTimeoutError
    assert errors.RemoteCommandNotFound is errors.RemoteCommandNotFoundError
    assert "SSHTimeout" not in errors.__all__  # listed under the new name only
    assert {cls.__name__ for cls in core} <= set(errors.__all__)
