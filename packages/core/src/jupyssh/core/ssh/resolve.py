"""Resolve host aliases with ``ssh -G``, and ProxyJump chains hop by hop.

A :class:`Resolver` runs ``ssh -G`` once per distinct destination and remembers the
answer, so checking a chain with many rules costs one ``ssh -G`` per hop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jupyssh.core.errors import ConfigError
from jupyssh.core.process import run_program
from jupyssh.core.ssh.classify import last_line
from jupyssh.core.ssh.hostconfig import HostConfig, JumpSpec, parse_ssh_g

__all__ = ["MAX_HOPS", "Hop", "Resolver"]

#: More hops than any real chain has; beyond this a chain is treated as a loop.
MAX_HOPS = 16

# "/home/u/.ssh/config: line 12: Bad configuration option: foo"
_CONFIG_LINE = re.compile(r"^(?P<file>[^:\n]+): line (?P<line>\d+): (?P<what>.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Hop:
    """One step of a chain: how it was asked for and what ssh resolved it to.

    ``via`` is the ProxyJump that ssh will use to reach this hop (empty for the first).
    """

    spec: str
    config: HostConfig
    via: tuple[JumpSpec, ...] = ()
    jump: JumpSpec | None = None

    @property
    def destination(self) -> str:
        """What to hand ``ssh`` to reach this hop (with ``-J`` of ``via``, if any)."""
        return self.jump.destination if self.jump is not None else self.spec


class Resolver:
    """Runs ``ssh -G`` for destinations and ProxyJump hops, caching each answer.

    ``config_file`` is passed as ``ssh -F``; None means ssh's own default
    (``~/.ssh/config`` and ``/etc/ssh/ssh_config``).
    """

    def __init__(
        self,
        config_file: str | None = None,
        *,
        ssh_program: str = "ssh",
        timeout: float = 10.0,
    ) -> None:
        self.config_file = config_file
        self.ssh_program = ssh_program
        self.timeout = timeout
        self._cache: dict[tuple[str, str | None, int | None], HostConfig] = {}
        #: How many times ``ssh -G`` actually ran (for tests and the "one per hop" promise).
        self.runs = 0

    async def resolve(self, destination: str | JumpSpec) -> HostConfig:
        """What ssh would use to connect to ``destination`` (an alias or a jump spec)."""
        spec = (
            destination
            if isinstance(destination, JumpSpec)
            else JumpSpec.from_destination(destination)
        )
        cached = self._cache.get(spec.key)
        if cached is None:
            cached = await self._run_ssh_g(spec)
            self._cache[spec.key] = cached
        return cached

    async def chain(self, destination: str) -> list[Hop]:
        """Every hop ssh passes through to reach ``destination``, first hop first.

        The last element is ``destination`` itself. Follows OpenSSH's rule: for
        ``ProxyJump A,B`` ssh reaches B through A (B's own ProxyJump is overridden) and
        A through A's own ProxyJump, if any. Raises ``ConfigError`` on a loop.
        """
        return await self._chain(JumpSpec.from_destination(destination), None, ())

    async def _chain(
        self,
        spec: JumpSpec,
        jump_override: tuple[JumpSpec, ...] | None,
        path: tuple[JumpSpec, ...],
    ) -> list[Hop]:
        if any(seen.key == spec.key for seen in path) or len(path) >= MAX_HOPS:
            names = " -> ".join(str(hop) for hop in (*path, spec))
            raise ConfigError(
                f"ProxyJump loop: {names}",
                where=self.config_file,
                hint="make the first hop of the chain reachable without ProxyJump",
            )
        config = await self.resolve(spec)
        jumps = config.proxy_jump if jump_override is None else jump_override
        if not jumps:
            return [Hop(str(spec), config, jump=spec)]
        last, earlier = jumps[-1], jumps[:-1]
        before = await self._chain(last, earlier or None, (*path, spec))
        return [*before, Hop(str(spec), config, via=jumps, jump=spec)]

    async def _run_ssh_g(self, spec: JumpSpec) -> HostConfig:
        # -T: with stdin not a terminal ssh would warn about a pseudo-terminal on every hop.
        argv: list[str] = [self.ssh_program, "-G", "-T"]
        if self.config_file is not None:
            argv += ["-F", self.config_file]
        if spec.user is not None:
            argv += ["-l", spec.user]
        if spec.port is not None:
            argv += ["-p", str(spec.port)]
        argv += ["--", spec.host] if not spec.host.startswith("-") else [spec.host]
        self.runs += 1
        done = await run_program(argv, timeout=self.timeout, what=f"ssh -G {spec}")
        stderr = done.stderr_text
        if done.returncode != 0:
            raise _config_error(stderr, spec, self.config_file)
        warnings = tuple(line.strip() for line in stderr.splitlines() if line.strip())
        return HostConfig(
            destination=str(spec),
            options=parse_ssh_g(done.stdout_text),
            config_file=self.config_file,
            warnings=warnings,
        )


def _config_error(stderr: str, spec: JumpSpec, config_file: str | None) -> ConfigError:
    match = _CONFIG_LINE.search(stderr)
    if match is not None:
        return ConfigError(
            f"ssh rejects the config: {match['what'].strip()}",
            where=f"{match['file']}:{match['line']}",
            hint="fix or remove that line (`man ssh_config` lists the keywords)",
        )
    return ConfigError(
        f"ssh cannot resolve {spec}: {last_line(stderr) or 'no message'}",
        where=config_file,
        hint="check the config file exists and is readable",
    )
