"""jupyssh-kernel: add the sandbox as a kernel, run a cell on it, remove it again."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from ..demo import Demo

PACKAGE = "jupyssh-kernel"
MODULE = "jupyssh.kernel"
TITLE = "a Jupyter kernel that runs on the ssh host, as if it were local"

_CELL = """\
from jupyter_client.manager import run_kernel
with run_kernel(kernel_name="sandbox-py", startup_timeout=60) as kc:
    code = "import socket, sys; print(socket.gethostname(), sys.version.split()[0])"
    kc.execute_interactive(code, timeout=60)
"""


def run(demo: Demo) -> None:
    # A private Jupyter home: the demo never touches the user's ~/.local/share/jupyter.
    home = Path(tempfile.mkdtemp(prefix="jk-demo-", dir="/tmp"))  # short socket paths
    saved = dict(demo.env)
    demo.env.update(
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_PATH=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "rt"),
        JUPYTER_CONFIG_DIR=str(home / "cfg"),
        JUPYSSH_HOME=str(home / "js"),
    )
    try:
        demo.say("What kernels does the host offer? (one ssh session, through the master)")
        demo.jupyssh("kernel", "remote", "-F", demo.config, demo.alias)

        demo.say("Add it: the alias is checked for the kernel role, the host is asked once")
        demo.jupyssh("kernel", "add", "sandbox-py", demo.alias, "-F", demo.config)
        demo.jupyssh("kernel", "list")

        demo.say("Any jupyter_client user starts it; this cell runs on the host")
        demo.shell([sys.executable, "-c", _CELL], shown=["python", "-c", "<run a cell>"])

        demo.say("Remove it again")
        demo.jupyssh("kernel", "remove", "sandbox-py")
    finally:
        demo.env.clear()
        demo.env.update(saved)
        shutil.rmtree(home, ignore_errors=True)
