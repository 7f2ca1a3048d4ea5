"""Host-side pieces without a server: the compiled-reader decision,
the agent source the bridge sends, and the command line."""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from jupyssh.bridge import agent
from jupyssh.bridge.cli import bridge
from jupyssh.bridge.reader import compiled_module_path
from jupyssh.bridge.session import agent_source, compiled_reader_for, pure_reader_source
from jupyssh.core.errors import ConfigError


def _hello(**changes: Any) -> dict[str, Any]:
    hello: dict[str, Any] = {
        "soabi": sysconfig.get_config_var("SOABI"),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "machine": platform.machine(),
        "system": platform.system(),
        "libc": list(platform.libc_ver()),
    }
    hello.update(changes)
    return hello


def test_the_compiled_reader_goes_only_to_a_matching_kernel(compiled_so: str) -> None:
    path = compiled_so
    assert compiled_module_path() == path
    assert str(compiled_reader_for(_hello())) == path
    assert compiled_reader_for(_hello(soabi="cpython-39-x86_64-linux-gnu")) is None
    assert compiled_reader_for(_hello(machine="riscv64")) is None
    assert compiled_reader_for(_hello(libc=["glibc", "2.0"])) is None  # older C library
    assert compiled_reader_for(_hello(libc=["musl", "1.2"])) is None


def test_the_agent_source_is_the_installed_module() -> None:
    source = agent_source()
    assert source == Path(agent.__file__).read_text(encoding="utf-8")
    compile(source, "agent.py", "exec")
    assert b"class Reader" in pure_reader_source()


def test_the_command_line_offers_serve() -> None:
    result = CliRunner().invoke(bridge, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--jupyter-url", "--listen", "--authorized-keys", "--host-key", "--warm"):
        assert option in result.output


def test_serve_refuses_a_bad_listen_address() -> None:
    result = CliRunner().invoke(bridge, ["serve", "--jupyter-url", "http://x/", "--listen", "a:b"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
