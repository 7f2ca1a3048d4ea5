"""``python -m jupyssh_harness demo``: the sandbox, and what each installed package does.

The sandbox (an sshd host and a Jupyter server on one network, see :mod:`.sandbox`) comes
up, each package's step in :mod:`.demos` runs in the order of :data:`STEPS` when that
package is installed, and everything is removed on the way out, Ctrl+C included. A step
shows the commands a user would type and their real output; a command that does not end
as the step expects stops the demo with a non-zero exit.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ._common import HarnessError, cache_dir, log
from .containers import SANDBOX_LABEL, cleanup
from .sandbox import Sandbox

__all__ = ["STEPS", "Demo", "DemoError", "run_demo"]

#: The packages in the order they build on each other; a step is ``demos/<name>.py``.
_ORDER = ("core", "sshconfig", "kernel", "bridge", "sftp", "tunnel", "hub")
#: The demo steps that exist, in that order.
STEPS = tuple(name for name in _ORDER if (Path(__file__).parent / "demos" / f"{name}.py").is_file())

_COMMAND_TIMEOUT_S = 120


_MAIN = "from jupyssh.core.cli import main; main()"


class DemoError(HarnessError):
    """A demo command did not end as its step expected."""


@dataclass
class Demo:
    """What a step gets: the running sandbox and the way to show a command."""

    sandbox: Sandbox
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def alias(self) -> str:
        return self.sandbox.alias

    @property
    def config(self) -> str:
        """The sandbox's ssh_config, for ``-F``."""
        return str(self.sandbox.config_file)

    def say(self, text: str) -> None:
        print(f"\n# {text}", flush=True)

    def jupyssh(self, *args: str, expect: int = 0, input_text: str | None = None) -> str:
        """Run ``jupyssh ARGS`` as a user would; see :meth:`shell`."""
        # The console script of this Python's environment, even when it is not on PATH
        # (pytest run straight from a venv); `-m jupyssh.core.cli` would run nothing.
        program = shutil.which("jupyssh", path=str(Path(sys.executable).parent))
        program = program or shutil.which("jupyssh")
        argv = [program] if program else [sys.executable, "-c", _MAIN]
        return self.shell(
            [*argv, *args], shown=["jupyssh", *args], expect=expect, input_text=input_text
        )

    def shell(
        self,
        argv: Sequence[str],
        *,
        shown: Sequence[str] | None = None,
        expect: int = 0,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = _COMMAND_TIMEOUT_S,
    ) -> str:
        """Show ``$ command``, run it (argv, no shell), print and return its output; raise
        :class:`DemoError` unless it exits with ``expect``."""
        print(f"$ {shlex.join(shown or argv)}", flush=True)
        try:
            done = subprocess.run(
                list(argv),
                input=input_text,
                stdin=None if input_text is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **self.env, **(env or {})},
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(
                f"{shlex.join(shown or argv)}: no answer within {timeout:.0f}s"
            ) from exc
        output = done.stdout + done.stderr
        print(output.rstrip("\n") if output.strip() else "(no output)", flush=True)
        if done.returncode != expect:
            raise DemoError(
                f"{shlex.join(shown or argv)}: exit {done.returncode}, expected {expect}"
            )
        return done.stdout


def _step_module(name: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.demos.{name}")


def installed(module: ModuleType) -> bool:
    """Whether the package a step shows is importable here."""
    return importlib.util.find_spec(module.MODULE) is not None


def run_demo(names: Sequence[str] = ()) -> int:
    """Run the steps named (all by default) against a fresh sandbox; 0 when all ran."""
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        raise HarnessError(f"no demo step {', '.join(unknown)} (have: {', '.join(STEPS)})")
    modules = [_step_module(name) for name in (names or STEPS)]
    present = [module for module in modules if installed(module)]
    for module in modules:
        if module not in present:
            log(f"demo: {module.PACKAGE} is not installed; its step is left out")
    if not present:
        raise HarnessError("no jupyssh package is installed: nothing to show")
    cleanup(SANDBOX_LABEL, scope="orphans")
    started = time.monotonic()
    state_dir = cache_dir() / "demo"
    log("demo: starting the sandbox (an sshd host and a Jupyter server) ...")
    with Sandbox(state_dir) as sandbox:
        log(f"demo: sandbox up in {time.monotonic() - started:.1f}s; state in {state_dir}")
        # Tables are captured, not on a terminal: give them room.
        demo = Demo(sandbox, workdir=state_dir, env={"COLUMNS": "120"})
        for module in present:
            print(f"\n== {module.PACKAGE}: {module.TITLE} ==", flush=True)
            module.run(demo)
    log(f"demo: all steps ran; sandbox removed ({time.monotonic() - started:.1f}s in all)")
    return 0
