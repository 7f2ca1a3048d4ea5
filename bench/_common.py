"""What every benchmark shares: timing, the record of figures, and their JSON and table.

A benchmark module ``bench/bench_<name>.py`` defines ``run(ctx: Context) -> None``. It
measures each variant (the baseline the issue names first, in the same run, against the
same containers) and hands the samples to :meth:`Context.record`; it states the issue's
targets with :meth:`Context.target`. Benchmarks report, they never assert: a missed target
is printed and written down, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import select
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from jupyssh_harness import SSHContainer, generate_keypair, prepare, start_ssh_host
from testcontainers.core.container import DockerContainer

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Samples per measurement unless a benchmark needs more; ``BENCH_SAMPLES`` overrides.
DEFAULT_SAMPLES = int(os.environ.get("BENCH_SAMPLES", "20"))


@dataclass
class Figure:
    """One metric of one variant: its samples and their summary."""

    metric: str
    variant: str
    unit: str
    samples: list[float]
    lower_is_better: bool = True
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        return _quantile(self.samples, 0.9)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            n=len(self.samples),
            median=self.median,
            p90=self.p90,
            min=min(self.samples),
            max=max(self.samples),
        )
        return data


@dataclass
class Target:
    """A target the issue sets, and whether this run met it."""

    description: str
    measured: float
    limit: float
    unit: str
    met: bool


@dataclass
class Context:
    """Handed to each benchmark's ``run``; collects its figures and targets."""

    name: str
    samples: int = DEFAULT_SAMPLES
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # -- measuring ---------------------------------------------------------------------

    def measure(
        self, fn: Callable[[], object], *, n: int | None = None, warmup: int = 1
    ) -> list[float]:
        """Wall-clock seconds of ``n`` calls of ``fn`` after ``warmup`` unrecorded ones."""
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(n or self.samples):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
        return out

    def measure_async(
        self, fn: Callable[[], Awaitable[object]], *, n: int | None = None, warmup: int = 1
    ) -> list[float]:
        """:meth:`measure` for a coroutine function, on one event loop for all calls."""

        async def loop() -> list[float]:
            for _ in range(warmup):
                await fn()
            out = []
            for _ in range(n or self.samples):
                start = time.perf_counter()
                await fn()
                out.append(time.perf_counter() - start)
            return out

        return asyncio.run(loop())

    # -- recording ---------------------------------------------------------------------

    def record(
        self,
        metric: str,
        variant: str,
        samples: list[float],
        *,
        unit: str = "s",
        lower_is_better: bool = True,
        note: str = "",
    ) -> Figure:
        """Keep one metric of one variant; print its summary at once (long runs show progress)."""
        if not samples:
            raise ValueError(f"{metric}/{variant}: no samples")
        figure = Figure(metric, variant, unit, list(samples), lower_is_better, note)
        self.figures.append(figure)
        print(
            f"bench {self.name}: {metric} [{variant}] median {_fmt(figure.median, unit)}"
            f" p90 {_fmt(figure.p90, unit)} (n={len(samples)})",
            flush=True,
        )
        return figure

    def figure(self, metric: str, variant: str) -> Figure:
        for figure in self.figures:
            if (figure.metric, figure.variant) == (metric, variant):
                return figure
        raise KeyError(f"no figure {metric}/{variant}")

    def target(
        self,
        description: str,
        measured: float,
        limit: float,
        *,
        unit: str = "",
        at_most: bool = True,
    ) -> Target:
        """Note whether ``measured`` meets ``limit`` (``at_most`` or, if False, at least)."""
        met = measured <= limit if at_most else measured >= limit
        target = Target(description, measured, limit, unit, met)
        self.targets.append(target)
        return target

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- output ------------------------------------------------------------------------

    def write(self, results_dir: Path = RESULTS_DIR) -> tuple[Path, Path]:
        """``<name>.json`` (every sample) and ``<name>.md`` (the table) in ``results_dir``."""
        results_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "benchmark": self.name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "figures": [figure.summary() for figure in self.figures],
            "targets": [asdict(target) for target in self.targets],
            "notes": self.notes,
        }
        json_path = results_dir / f"{self.name}.json"
        json_path.write_text(json.dumps(data, indent=2) + "\n")
        md_path = results_dir / f"{self.name}.md"
        md_path.write_text(self.table() + "\n")
        return json_path, md_path

    def table(self) -> str:
        """A markdown table: a row per metric, a column per variant, medians (p90)."""
        variants = list(dict.fromkeys(figure.variant for figure in self.figures))
        metrics = list(dict.fromkeys(figure.metric for figure in self.figures))
        cells = {(f.metric, f.variant): f for f in self.figures}
        lines = [
            f"### {self.name}",
            "",
            "| metric | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants),
        ]
        for metric in metrics:
            row = []
            for variant in variants:
                figure = cells.get((metric, variant))
                row.append(
                    ""
                    if figure is None
                    else f"{_fmt(figure.median, figure.unit)} ({_fmt(figure.p90, figure.unit)})"
                )
            lines.append(f"| {metric} | " + " | ".join(row) + " |")
        lines.append("")
        lines.append("Cells: median (p90) of n samples; JSON beside this table holds every sample.")
        if self.targets:
            lines += ["", "| target | measured | limit | met |", "|---|---|---|---|"]
            for t in self.targets:
                lines.append(
                    f"| {t.description} | {_fmt(t.measured, t.unit)} | {_fmt(t.limit, t.unit)} |"
                    f" {'yes' if t.met else '**no**'} |"
                )
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)


class StealMeter:
    """The share of CPU time the hypervisor gave to other guests during a run (the
    ``steal`` column of ``/proc/stat``): on a shared virtual machine it is what makes two
    runs of the same benchmark differ, so every table states it."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return None
        ticks = [int(value) for value in fields]
        steal = ticks[7] if len(ticks) > 7 else 0
        return steal, sum(ticks[:8])

    def note(self) -> str | None:
        """``"CPU steal during this run: N %"``, or ``None`` where it cannot be read."""
        end = self._read()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return None
        share = (end[0] - self._start[0]) / (end[1] - self._start[1])
        return f"CPU steal during this run: {share * 100:.1f} % of all CPU time (/proc/stat)"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "ratio":
        return f"{value:.2f}x"
    if unit == "":
        return f"{value:.3g}"
    return f"{value:.3g} {unit}"


# -- interactive ssh sessions --------------------------------------------------------------


def end_shell(proc: subprocess.Popen[bytes], goodbye: bytes = b"\n\x04") -> None:
    """Type ``goodbye`` (by default a newline and Ctrl+D, which end ``cat``), then wait for
    ssh to exit; kill it after 30 s."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(goodbye)
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
    proc.stdout.close()


# -- CPU accounting, read from the host --------------------------------------------------


class ContainerCgroup:
    """A running container's cgroup, read from the host (cgroup v1 or v2)."""

    def __init__(self, container: DockerContainer) -> None:
        init = int(container.get_wrapped_container().attrs["State"]["Pid"])
        self.usage: Path | None = None
        self.procs: Path | None = None
        for line in Path(f"/proc/{init}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "cpuacct" in controllers.split(","):
                self.usage = Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage")
                self.procs = self.usage.with_name("cgroup.procs")
                break
            if controllers == "" and Path(f"/sys/fs/cgroup{path}/cpu.stat").is_file():
                self.usage = Path(f"/sys/fs/cgroup{path}/cpu.stat")
                self.procs = self.usage.with_name("cgroup.procs")
        if self.usage is None or self.procs is None:
            raise RuntimeError(f"no CPU accounting found for container pid {init}")

    def cpu_seconds(self) -> float:
        """CPU seconds of every process the container ran."""
        assert self.usage is not None
        text = self.usage.read_text()
        if self.usage.name == "cpuacct.usage":
            return int(text) / 1e9
        fields = dict(line.split() for line in text.splitlines())
        return int(fields["usage_usec"]) / 1e6

    def pids(self) -> dict[int, psutil.Process]:
        """The container's processes by their pid inside it (``NSpid``'s last field)."""
        assert self.procs is not None
        found: dict[int, psutil.Process] = {}
        for line in self.procs.read_text().split():
            with contextlib.suppress(OSError, psutil.Error):
                status = Path(f"/proc/{line}/status").read_text()
                nspid = next(row for row in status.splitlines() if row.startswith("NSpid:"))
                found[int(nspid.split()[-1])] = psutil.Process(int(line))
        return found


def cmdline(proc: psutil.Process) -> list[str]:
    """``proc``'s argv; empty once it has gone (or is a zombie)."""
    with contextlib.suppress(psutil.Error):
        return list(proc.cmdline())
    return []


def cpu_of(processes: Iterable[psutil.Process]) -> float:
    """CPU seconds of ``processes`` (their own threads, not their children)."""
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


# -- containers (through the integration harness) ---------------------------------------


@contextmanager
def ssh_host() -> Iterator[SSHContainer]:
    """A fresh sshd container of the harness, with its own keys and ssh config, removed
    on the way out. Short paths under /tmp: control sockets must fit in 108 bytes."""
    images = prepare()
    with tempfile.TemporaryDirectory(prefix="jssh-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        (root / "host").mkdir()
        keypair = generate_keypair(root)
        with start_ssh_host(images["openssh"].tag, root / "host", keypair=keypair) as host:
            yield host


def run_quiet(argv: list[str], *, timeout: float = 60) -> None:
    """Run a local program, no stdin, output discarded; fail loudly on a non-zero exit."""
    subprocess.run(
        argv,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )


# -- counting ssh processes ------------------------------------------------------------

_SSH_COUNTER = """#!/bin/sh
echo "$*" >> "$BENCH_SSH_LOG"
exec {ssh} ${{BENCH_SSH_CONFIG:+-F "$BENCH_SSH_CONFIG"}} "$@"
"""


class SSHCounter:
    """An ``ssh`` first on ``PATH`` that notes each run in a log, then runs the real one:
    how a benchmark counts the ssh processes a client spawns (provisioners find ssh on
    PATH). With ``BENCH_SSH_CONFIG`` set, it also reads that ssh config (for clients that
    run a bare ``ssh HOST``). :meth:`install` changes this process's environment; the
    caller restores it."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "ssh.log"
        self.bindir = folder / "bin"

    def install(self) -> None:
        self.bindir.mkdir(parents=True, exist_ok=True)
        wrapper = self.bindir / "ssh"
        wrapper.write_text(_SSH_COUNTER.format(ssh=_real_ssh()))
        wrapper.chmod(0o755)
        os.environ.update(
            PATH=f"{self.bindir}{os.pathsep}{os.environ['PATH']}", BENCH_SSH_LOG=str(self.log)
        )

    def count(self) -> int:
        """How many ssh processes ran so far."""
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def _real_ssh() -> str:
    for folder in os.environ["PATH"].split(os.pathsep):
        candidate = Path(folder) / "ssh"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError("no ssh on PATH")


# -- reading what ssh prints -------------------------------------------------------


def read_until(fd: int, wanted: bytes, timeout: float = 60.0) -> None:
    """Read ``fd`` (a pipe or a PTY of ssh) until ``wanted`` has passed, though it may span
    two reads; any output at all when ``wanted`` is empty."""
    tail = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError(f"no {wanted!r} from ssh within {timeout} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EOFError("ssh ended early")
        seen = tail + chunk
        if wanted in seen:
            return
        # keep only what could be the start of ``wanted`` (a long prompt after it in the
        # same read must not push it out of view)
        tail = seen[len(seen) - len(wanted) + 1 :] if len(wanted) > 1 else b""


# -- a private Jupyter home ------------------------------------------------------------


def private_jupyter(root: Path) -> Path:
    """Point this process's Jupyter and jupyssh folders into ``root``, so that a benchmark
    never reads or writes the user's; returns the data folder (kernelspecs go in its
    ``kernels/``). The runtime folder exists, 0700 (sshpyk fails without it). The caller
    restores ``os.environ``."""
    data = root / "data"
    (root / "rt").mkdir(mode=0o700, exist_ok=True)
    os.environ.update(
        JUPYTER_DATA_DIR=str(data),
        JUPYTER_PATH=str(data),
        JUPYTER_RUNTIME_DIR=str(root / "rt"),
        JUPYTER_CONFIG_DIR=str(root / "cfg"),
        JUPYSSH_HOME=str(root / "js"),
    )
    return data
