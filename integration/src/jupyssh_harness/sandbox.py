"""A sandbox for demos: an ssh host and a Jupyter server on one network.

>>> with Sandbox() as sandbox:                              # doctest: +SKIP
...     subprocess.run(["ssh", "-F", str(sandbox.config_file), "jupyssh-sandbox", "hostname"])

Inside the network the ssh host is ``sandbox`` and the Jupyter server ``jupyter:8888``, so a
tunnel through ``jupyssh-sandbox`` can reach the server. Files in ``state_dir``:
``ssh_config``, ``known_hosts``, ``id_ed25519`` (client key), ``jupyter_token`` (0600),
``notebooks/`` (the server's root_dir) and ``sandbox.json`` (everything but the token).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from ._common import HarnessError, cache_dir
from .containers import JUPYTER_PORT, SANDBOX_LABEL, create_network
from .hosts import JupyterServer, SSHContainer, start_jupyter_server, start_ssh_host
from .images import prepare
from .keys import generate_keypair
from .sshconfig import write_ssh_config

__all__ = ["SANDBOX_ALIAS", "Sandbox"]

SANDBOX_ALIAS = "jupyssh-sandbox"
_MARKER = ".jupyssh-sandbox"


class Sandbox:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`. Not started twice."""

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        alias: str = SANDBOX_ALIAS,
        role_label: str = SANDBOX_LABEL,
        extra_wheels: Sequence[Path] | None = None,
    ) -> None:
        self.state_dir = (state_dir or cache_dir() / "sandbox").resolve()
        self.alias = alias
        self.role_label = role_label
        self._extra_wheels = extra_wheels
        self._stack: ExitStack | None = None
        self._ssh: SSHContainer | None = None
        self._jupyter: JupyterServer | None = None
        self.network = ""

    @property
    def ssh_host(self) -> SSHContainer:
        if self._ssh is None:
            raise HarnessError("sandbox not started")
        return self._ssh

    @property
    def jupyter(self) -> JupyterServer:
        if self._jupyter is None:
            raise HarnessError("sandbox not started")
        return self._jupyter

    @property
    def config_file(self) -> Path:
        """The ssh_config holding :attr:`alias`."""
        return self.ssh_host.config_file

    def _fresh_state_dir(self) -> None:
        if self.state_dir.exists():
            if not (self.state_dir / _MARKER).exists() and any(self.state_dir.iterdir()):
                raise HarnessError(f"{self.state_dir} exists and is not a sandbox folder")
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True, mode=0o700)
        (self.state_dir / _MARKER).touch()

    def start(self) -> Sandbox:
        """Build what is missing, start both containers, write the state files."""
        if self._stack is not None:
            raise HarnessError("sandbox already started")
        images = prepare(extra_wheels=self._extra_wheels)
        self._fresh_state_dir()
        keypair = generate_keypair(self.state_dir, comment="jupyssh-sandbox")
        token = secrets.token_hex(24)
        token_file = self.state_dir / "jupyter_token"
        token_file.write_text(token + "\n", encoding="ascii")
        token_file.chmod(0o600)

        stack = ExitStack()
        try:
            network = create_network(self.role_label, prefix="jupyssh-sandbox")
            network.create()
            stack.callback(network.remove)
            self.network = network.name
            self._jupyter = start_jupyter_server(
                images["jupyter"].tag,
                token=token,
                host_dir=self.state_dir / "notebooks",
                role_label=self.role_label,
                network=network,
                network_aliases=["jupyter"],
            )
            stack.callback(self._jupyter.stop)
            self._ssh = start_ssh_host(
                images["openssh"].tag,
                self.state_dir,
                keypair=keypair,
                alias=self.alias,
                role_label=self.role_label,
                network=network,
                network_aliases=["sandbox"],
            )
            stack.callback(self._ssh.stop)
            self._write_workflow_config(stack)
        except BaseException:
            stack.close()
            self._ssh = self._jupyter = None
            raise
        self._stack = stack
        summary = {
            "alias": self.alias,
            "ssh_config": str(self.config_file),
            "ssh_port": self.ssh_host.port,
            "jupyter_url": self.jupyter.url,
            "jupyter_token_file": str(token_file),
            "jupyter_in_network": f"http://jupyter:{JUPYTER_PORT}/",
            "network": self.network,
        }
        (self.state_dir / "sandbox.json").write_text(json.dumps(summary, indent=2) + "\n")
        return self

    def _write_workflow_config(self, stack: ExitStack) -> None:
        """Rewrite the alias the way a user's dedicated block should read (what
        ``jupyssh sshconfig suggest`` recommends): a shared master that outlives the
        command that opened it, and keepalives. The control folder is short (a socket path
        must fit in 108 bytes) and private, and the master is told to exit before the
        containers go."""
        control_dir = Path(tempfile.mkdtemp(prefix="jssh-sandbox-"))
        stack.callback(shutil.rmtree, control_dir, ignore_errors=True)
        entry = dataclasses.replace(
            self.ssh_host.entry(),
            options={
                "ControlMaster": "auto",
                "ControlPath": str(control_dir / "cm-%C"),
                "ControlPersist": "10m",
                "ServerAliveInterval": "15",
                "ServerAliveCountMax": "3",
            },
        )
        config_file = write_ssh_config(self.config_file, [entry])
        stack.callback(_exit_master, config_file, self.alias)

    def stop(self) -> None:
        """Remove the containers and the network (the state folder stays). A sandbox left
        running (``python -m jupyssh_harness sandbox up``) is removed by label instead:
        ``cleanup(SANDBOX_LABEL)``."""
        stack, self._stack = self._stack, None
        self._ssh = self._jupyter = None
        if stack is not None:
            stack.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _exit_master(config_file: Path, alias: str) -> None:
    subprocess.run(
        ["ssh", "-F", str(config_file), "-O", "exit", alias],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=15,
        check=False,  # no master running is the usual case
    )
