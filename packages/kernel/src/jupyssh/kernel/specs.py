"""Kernelspecs that run on an ssh host: write, read, change and remove them.

A jupyssh kernelspec is an ordinary ``kernel.json`` in a Jupyter kernels folder (so
``jupyter kernelspec list`` and every frontend see it) whose
``metadata.kernel_provisioner`` selects the ``jupyssh`` provisioner with its options
(:mod:`jupyssh.kernel.options`), and whose ``argv`` runs ``python -m jupyssh.kernel
launch`` for applications that ignore provisioners. The CLI (``jupyssh kernel …``) and
the demo call these functions. An edit changes the keys it is given and keeps every
other one, known to this version or not.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from traitlets import TraitError

from jupyssh.core.ssh import AsyncSSHHost
from jupyssh.kernel.errors import KernelSpecError
from jupyssh.kernel.options import SpecFields, option, options
from jupyssh.kernel.provisioner import SSHProvisioner
from jupyssh.kernel.watcher import Watcher

__all__ = [
    "PROVISIONER_NAME",
    "RemoteSpecs",
    "SpecOptions",
    "edit_spec",
    "install_spec",
    "is_jupyssh_spec",
    "kernel_json",
    "list_specs",
    "load_options",
    "probe_host",
    "remove_spec",
]

PROVISIONER_NAME = "jupyssh"
_PROBE_TIMEOUT = 30.0
#: The kernelspec's own fields (top-level kernel.json keys) an edit may change.
_TOP_LEVEL = frozenset(o.key for o in options() if o.top_level) | {"language"}


class SpecOptions:
    """A jupyssh kernelspec: its name, its own fields, and the provisioner config exactly
    as ``kernel.json`` holds it (``config``: only the keys written, every one kept)."""

    def __init__(
        self,
        name: str,
        *,
        display_name: str = "",
        language: str = "python",
        interrupt_mode: str | None = None,
        **config: Any,
    ) -> None:
        self.name = name
        self.display_name = display_name
        self.language = language
        self.interrupt_mode = interrupt_mode or str(option("interrupt_mode").default)
        self.config = {key: value for key, value in config.items() if value is not None}

    def __repr__(self) -> str:
        return f"SpecOptions({self.name!r}, {self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpecOptions):
            return NotImplemented
        return (self.name, self.fields(), self.config) == (other.name, other.fields(), other.config)

    __hash__ = None  # type: ignore[assignment]  # mutable: no hash

    def value(self, key: str) -> Any:
        """A provisioner option's value: as written, else its default."""
        return self.config[key] if key in self.config else option(key).default

    @property
    def host(self) -> str:
        return str(self.config.get("host", ""))

    @property
    def ssh_config(self) -> str | None:
        value = self.config.get("ssh_config")
        return str(value) if value else None

    def fields(self) -> dict[str, Any]:
        """The top-level kernel.json fields."""
        return {
            "display_name": self.display_name,
            "language": self.language,
            "interrupt_mode": self.interrupt_mode,
        }

    def changed(self, changes: dict[str, Any]) -> SpecOptions:
        """A copy with ``changes`` applied (top-level fields and provisioner keys alike)."""
        fields = {**self.fields(), **{k: v for k, v in changes.items() if k in _TOP_LEVEL}}
        config = {**self.config, **{k: v for k, v in changes.items() if k not in _TOP_LEVEL}}
        return SpecOptions(self.name, **fields, **config)

    def validate(self) -> SpecOptions:
        """Refuse a name or values that cannot work (the traits' own checks); return self.

        Keys this version does not know are kept, not checked: the provisioner refuses
        them when it starts, with their names."""
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise KernelSpecError(
                f"invalid kernel name {self.name!r}",
                hint="use letters, digits, '-', '_' and '.' only",
            )
        try:
            SpecFields(display_name=self.display_name, interrupt_mode=self.interrupt_mode)
        except TraitError as exc:
            raise KernelSpecError(f"invalid kernelspec field: {exc}") from None
        known = SSHProvisioner.class_traits(config=True)
        SSHProvisioner(**{k: v for k, v in self.config.items() if k in known})
        return self

    def to_dict(self) -> dict[str, Any]:
        """Everything the spec says, defaults filled in (``show``, ``list``, ``--json``)."""
        effective = {o.key: self.value(o.key) for o in options() if not o.top_level}
        return {"name": self.name, **self.fields(), **effective, **self.config}


def kernel_json(options: SpecOptions, python: str | None = None) -> dict[str, Any]:
    """The ``kernel.json`` of ``options``; ``python`` runs the argv fallback."""
    options.validate()
    return {
        "argv": [
            python or sys.executable,
            "-m",
            "jupyssh.kernel",
            "launch",
            options.name,
            "--connection-file",
            "{connection_file}",
        ],
        "display_name": options.display_name
        or f"{options.value('remote_kernel')} on {options.host}",
        "language": options.language,
        "interrupt_mode": options.interrupt_mode,
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER_NAME,
                "config": dict(options.config),
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
            hint="pick another name, `jupyssh kernel edit` it, or remove it first",
        )
    with tempfile.TemporaryDirectory(prefix="jupyssh-spec-") as folder:
        (Path(folder) / "kernel.json").write_text(
            json.dumps(kernel_json(options), indent=1), encoding="utf-8"
        )
        return Path(manager.install_kernel_spec(folder, options.name, user=True))


def _load(name: str) -> tuple[Path, dict[str, Any]]:
    """A jupyssh kernelspec's folder and its kernel.json as written; other specs refused."""
    try:
        folder = Path(_manager().get_kernel_spec(name).resource_dir)
    except NoSuchKernel:
        raise KernelSpecError(
            f"no kernelspec named {name!r}",
            hint="`jupyssh kernel list` shows the installed ones",
        ) from None
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    if not is_jupyssh_spec(spec):
        raise KernelSpecError(
            f"{name!r} is not a jupyssh kernelspec", where=str(folder), hint="leave it alone"
        )
    return folder, spec


def _options_of(name: str, spec: dict[str, Any]) -> SpecOptions:
    config = dict(spec["metadata"]["kernel_provisioner"].get("config") or {})
    # A config key that shares a field's name would collide; fields come from the top level.
    config = {k: v for k, v in config.items() if k not in _TOP_LEVEL and k != "name"}
    return SpecOptions(
        name,
        display_name=str(spec.get("display_name", "")),
        language=str(spec.get("language", "python")),
        interrupt_mode=str(spec.get("interrupt_mode", option("interrupt_mode").default)),
        **config,
    )


def load_options(name: str) -> tuple[Path, SpecOptions]:
    """Read a jupyssh kernelspec back into its options; refuse other kernelspecs."""
    folder, spec = _load(name)
    return folder, _options_of(name, spec)


def edit_spec(name: str, changes: dict[str, Any]) -> tuple[Path, SpecOptions]:
    """Change the keys ``changes`` names in a jupyssh kernelspec, in place.

    Every other key of kernel.json stays as written: provisioner options this version
    does not know, an ``env``, other metadata, the argv.
    """
    folder, spec = _load(name)
    changed = _options_of(name, spec).changed(changes).validate()
    for key in _TOP_LEVEL & set(changes):
        spec[key] = changes[key]
    spec["metadata"]["kernel_provisioner"]["config"] = changed.config
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), "utf-8")
    return folder, changed


def remove_spec(name: str) -> Path:
    """Remove a jupyssh kernelspec (and only a jupyssh one); return the folder removed."""
    folder, _ = _load(name)
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
            row["options"] = _options_of(name, spec).to_dict()
        rows.append(row)
    return rows


@dataclass(frozen=True)
class RemoteSpecs:
    """What the host answered: its launcher python, its kernelspecs and, where Slurm
    runs, its partitions (``name``, ``state``, ``time_limit``, ``nodes``, ``cpus``,
    ``memory_mb``, ``gres``, as ``sinfo`` says them)."""

    python: str
    executable: str
    specs: dict[str, dict[str, Any]]
    partitions: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def probe_host_async(options: SpecOptions) -> RemoteSpecs:
    """Run the launcher in ``specs`` mode on the host (one ssh session, via the master)."""
    async with AsyncSSHHost(
        options.host, config_file=options.ssh_config, ssh_program=options.value("ssh_program")
    ) as host:
        await host.start_master()
        watcher, event = await Watcher.start(
            host,
            {"mode": "specs"},
            python=options.value("remote_python"),
            env_setup=options.value("env_setup"),
            timeout=_PROBE_TIMEOUT,
        )
        await watcher.close()
    return RemoteSpecs(
        python=str(event.facts.get("python", "")),
        executable=str(event.facts.get("executable", "")),
        specs=dict(event.facts.get("specs") or {}),
        partitions=list(event.facts.get("partitions") or []),
    )


def probe_host(options: SpecOptions) -> RemoteSpecs:
    """The blocking twin of :func:`probe_host_async`."""
    return asyncio.run(probe_host_async(options))
