"""Kernelspecs that run on an ssh host: write, read, change and remove them.

A jupyssh kernelspec is an ordinary ``kernel.json`` in a Jupyter kernels folder (so
``jupyter kernelspec list`` and every frontend see it) whose
``metadata.kernel_provisioner`` selects the ``jupyssh`` provisioner with the options of
:class:`SpecOptions`, and whose ``argv`` runs ``python -m jupyssh.kernel launch`` for
applications that ignore provisioners. The CLI (``jupyssh kernel …``) and the demo call
these functions.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.kernel.errors import KernelSpecError
from jupyssh.kernel.watcher import Watcher

__all__ = [
    "PROVISIONER_NAME",
    "RemoteSpecs",
    "SpecOptions",
    "delete_spec",
    "install_spec",
    "is_jupyssh_spec",
    "kernel_json",
    "list_specs",
    "load_options",
    "probe_host",
]

PROVISIONER_NAME = "jupyssh"
_INTERRUPT_MODES = ("message", "signal")
_TRANSPORTS = ("tcp", "ipc")
_PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class SpecOptions:
    """Everything a jupyssh kernelspec says; the provisioner options are the ones with
    ``provisioner`` in their metadata."""

    name: str
    host: str
    ssh_config: str | None = None
    remote_python: str = "python3"
    remote_kernel: str = "python3"
    env_setup: str = ""
    cwd: str = ""
    launch_timeout: float = 30.0
    shutdown_timeout: float = 10.0
    interrupt_mode: str = "message"
    transport: str = "tcp"
    persistent: bool = False
    display_name: str = ""
    language: str = "python"

    def validate(self) -> SpecOptions:
        """Refuse options that cannot work; return self."""
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise KernelSpecError(
                f"invalid kernel name {self.name!r}",
                hint="use letters, digits, '-', '_' and '.' only",
            )
        if not self.host or self.host.startswith("-"):
            raise KernelSpecError(f"invalid host alias {self.host!r}")
        if self.interrupt_mode not in _INTERRUPT_MODES:
            raise KernelSpecError(f"interrupt mode must be one of {_INTERRUPT_MODES}")
        if self.transport not in _TRANSPORTS:
            raise KernelSpecError(f"transport must be one of {_TRANSPORTS}")
        if self.launch_timeout <= 0 or self.shutdown_timeout <= 0:
            raise KernelSpecError("timeouts must be positive")
        return self

    def provisioner_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "host": self.host,
            "remote_python": self.remote_python,
            "remote_kernel": self.remote_kernel,
            "env_setup": self.env_setup,
            "cwd": self.cwd,
            "launch_timeout": self.launch_timeout,
            "shutdown_timeout": self.shutdown_timeout,
            "transport": self.transport,
            "persistent": self.persistent,
        }
        if self.ssh_config:
            config["ssh_config"] = self.ssh_config
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def kernel_json(options: SpecOptions, python: str | None = None) -> dict[str, Any]:
    """The ``kernel.json`` of ``options``; ``python`` runs the argv fallback."""
    options.validate()
    return {
        "argv": [
            python or sys.executable,
            "-m",
            "jupyssh.kernel",
            "launch",
            "--kernel",
            options.name,
            "--connection-file",
            "{connection_file}",
        ],
        "display_name": options.display_name or f"{options.remote_kernel} on {options.host}",
        "language": options.language,
        "interrupt_mode": options.interrupt_mode,
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER_NAME,
                "config": options.provisioner_config(),
            },
            "jupyssh": {"spec_version": 1},
        },
    }


def is_jupyssh_spec(spec: dict[str, Any]) -> bool:
    provisioner = (spec.get("metadata") or {}).get("kernel_provisioner") or {}
    return bool(provisioner.get("provisioner_name") == PROVISIONER_NAME)


def _manager() -> KernelSpecManager:
    return KernelSpecManager()


def install_spec(options: SpecOptions, *, replace_existing: bool = False) -> Path:
    """Write the spec into the user's Jupyter kernels folder; return its folder.

    An existing spec of that name is replaced only with ``replace_existing``.
    """
    manager = _manager()
    if not replace_existing and options.name in manager.find_kernel_specs():
        raise KernelSpecError(
            f"a kernelspec named {options.name!r} exists already",
            where=manager.find_kernel_specs()[options.name],
            hint="pick another name, `jupyssh kernel edit` it, or delete it first",
        )
    with tempfile.TemporaryDirectory(prefix="jupyssh-spec-") as folder:
        (Path(folder) / "kernel.json").write_text(
            json.dumps(kernel_json(options), indent=1), encoding="utf-8"
        )
        return Path(manager.install_kernel_spec(folder, options.name, user=True))


def _load(name: str) -> tuple[Path, dict[str, Any]]:
    try:
        folder = Path(_manager().get_kernel_spec(name).resource_dir)
    except NoSuchKernel:
        raise KernelSpecError(
            f"no kernelspec named {name!r}",
            hint="`jupyssh kernel list` shows the installed ones",
        ) from None
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    return folder, spec


def load_options(name: str) -> tuple[Path, SpecOptions]:
    """Read a jupyssh kernelspec back into its options; refuse other kernelspecs."""
    folder, spec = _load(name)
    if not is_jupyssh_spec(spec):
        raise KernelSpecError(
            f"{name!r} is not a jupyssh kernelspec", where=str(folder), hint="leave it alone"
        )
    config = dict(spec["metadata"]["kernel_provisioner"].get("config") or {})
    known = {f.name for f in fields(SpecOptions)}
    values = {k: v for k, v in config.items() if k in known}
    options = SpecOptions(
        name=name,
        display_name=str(spec.get("display_name", "")),
        language=str(spec.get("language", "python")),
        interrupt_mode=str(spec.get("interrupt_mode", "message")),
        **values,
    )
    return folder, options


def edit_spec(name: str, changes: dict[str, Any]) -> tuple[Path, SpecOptions]:
    """Change some options of a jupyssh kernelspec in place."""
    folder, options = load_options(name)
    changed = replace(options, **changes).validate()
    (folder / "kernel.json").write_text(json.dumps(kernel_json(changed), indent=1), "utf-8")
    return folder, changed


def delete_spec(name: str) -> Path:
    """Remove a jupyssh kernelspec (and only a jupyssh one); return the folder removed."""
    folder, _ = load_options(name)
    shutil.rmtree(folder)
    return folder


def list_specs() -> list[dict[str, Any]]:
    """Every installed kernelspec: name, display name, folder, and its jupyssh options."""
    rows = []
    for name, found in sorted(_manager().get_all_specs().items()):
        spec = found["spec"]
        row: dict[str, Any] = {
            "name": name,
            "display_name": spec.get("display_name", name),
            "resource_dir": found["resource_dir"],
            "ssh": is_jupyssh_spec(spec),
        }
        if row["ssh"]:
            row["options"] = load_options(name)[1].to_dict()
        rows.append(row)
    return rows


@dataclass(frozen=True)
class RemoteSpecs:
    """What the host answered: its launcher python and its kernelspecs."""

    python: str
    executable: str
    specs: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def probe_host_async(options: SpecOptions) -> RemoteSpecs:
    """Run the launcher in ``specs`` mode on the host (one ssh session, via the master)."""
    async with AsyncSSHHost(options.host, config_file=options.ssh_config) as host:
        await host.start_master()
        watcher, event = await Watcher.start(
            host,
            {"mode": "specs"},
            python=options.remote_python,
            env_setup=options.env_setup,
            timeout=_PROBE_TIMEOUT,
        )
        await watcher.close()
    return RemoteSpecs(
        python=str(event.facts.get("python", "")),
        executable=str(event.facts.get("executable", "")),
        specs=dict(event.facts.get("specs") or {}),
    )


def probe_host(options: SpecOptions) -> RemoteSpecs:
    """The blocking twin of :func:`probe_host_async`."""
    return asyncio.run(probe_host_async(options))
