#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""The one front door: every developer and CI entry point of the jupyssh monorepo.

nox                      lint, typecheck, unit tests, integration tests (the default)
nox -s demo              bring up the sandbox containers and show what jupyssh does
nox -s tests -- -k ssh   pass pytest arguments after -- (a path there replaces the default targets)
nox -s bench -- kernel   run one benchmark
nox -s build             wheels + sdists, twine check, each wheel alone in a fresh venv
nox -s dev               .venv with every package editable
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "integration"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# Dependency order: a package comes after every package it depends on.
ORDER = ["core", "sshconfig", "kernel", "bridge", "sftp", "tunnel", "hub", "mcp"]
PACKAGES = [name for name in ORDER if (ROOT / "packages" / name / "pyproject.toml").is_file()]
# Extras of each package that the tests exercise.
EXTRAS = {"core": "[jupyter,server]", "bridge": "[sftp]"}
CONTAINER_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true"}


def _editables() -> list[str]:
    args: list[str] = []
    for name in PACKAGES:
        args += ["-e", f"packages/{name}{EXTRAS.get(name, '')}"]
    return args


def install_packages(session: nox.Session, *groups: str) -> None:
    """Every jupyssh package editable, plus the root dependency groups named."""
    session.install(*_editables(), *nox.project.dependency_groups(PYPROJECT, *groups))


def install_harness(session: nox.Session) -> None:
    """The packages and the private integration harness (images, sandbox, fixtures)."""
    install_packages(session, "test", "integration")
    session.install("-e", "integration")


def pytest_args(posargs: list[str], targets: list[str]) -> list[str]:
    """pytest's arguments: those after `--` replace the default ``targets`` when they name a
    test file or folder (`nox -s tests -- packages/core/tests/test_x.py::test_y`), and are
    added to them otherwise (`nox -s tests -- -k ssh`)."""
    if any(Path(arg.split("::")[0]).exists() for arg in posargs if not arg.startswith("-")):
        return posargs
    return [*targets, *posargs]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree; the import contracts
    (layering, no cycles: ``[tool.importlinter]``) over the packages' sources."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # import-linter reads the sources, so the packages need not be installed: only found.
    sources = os.pathsep.join(str(ROOT / "packages" / name / "src") for name in PACKAGES)
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": sources})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's source, the integration harness and bench/."""
    install_harness(session)
    session.install(*nox.project.dependency_groups(PYPROJECT, "typecheck"))
    sources = [f"packages/{name}/src" for name in PACKAGES] + ["integration/src", "bench"]
    env = {"MYPYPATH": os.pathsep.join(sources)}
    targets = [f"packages/{name}/src/jupyssh" for name in PACKAGES]
    session.run("mypy", *targets, "integration/src/jupyssh_harness", "bench", env=env)


#: pytest-xdist workers for the unit tests. Most of a unit test's time is spent waiting
#: (on a subprocess, a socket, a bounded timeout), so two workers halve the suite's wall
#: time even on two shared cores; `nox -s tests -- -n 0` runs them in one process.
UNIT_WORKERS = ["-n", "2", "--dist", "worksteal"]


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests of every package: no containers, no network beyond loopback."""
    install_packages(session, "test")
    targets = [f"packages/{name}/tests" for name in PACKAGES]
    session.run("pytest", *UNIT_WORKERS, *pytest_args(session.posargs, targets))


@nox.session
def integration(session: nox.Session) -> None:
    """End-to-end tests against real OpenSSH and Jupyter servers in containers."""
    install_harness(session)
    # Engine, base image, wheelhouse and images first, with progress, so that pytest's
    # timeouts measure the tests and not a first image build.
    session.run("python", "-m", "jupyssh_harness", "prepare", env=CONTAINER_ENV)
    session.run("pytest", *pytest_args(session.posargs, ["integration/tests"]), env=CONTAINER_ENV)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Bring up the sandbox containers and show, step by step, what jupyssh can do."""
    install_harness(session)
    session.run("python", "-m", "jupyssh_harness", "prepare", env=CONTAINER_ENV)
    session.run("python", "-m", "jupyssh_harness", "demo", *session.posargs, env=CONTAINER_ENV)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks, each beside its baseline; figures go to bench/results/ (JSON + table)."""
    install_harness(session)
    session.install(*nox.project.dependency_groups(PYPROJECT, "bench"))
    # The Slurm benchmark's baseline. It declares `notebook` for its `manage` subcommand
    # only; its launcher needs pexpect and tornado (both in the group above).
    session.install("--no-deps", "remote_ikernel==0.4.6")
    session.run("python", "-m", "jupyssh_harness", "prepare", env=CONTAINER_ENV)
    session.run("python", "bench/run.py", *session.posargs, env=CONTAINER_ENV)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly: any warning fails."""
    install_packages(session, "docs")
    # Material prints a banner about its successor on every build; it is not a warning
    # about these docs, and strict mode must only fail on ours.
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(default=False)
def build(session: nox.Session) -> None:
    """Wheel and sdist of every package, twine check, and each wheel installed alone."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "build"))
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for name in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(dist), f"packages/{name}")
    session.run("twine", "check", "--strict", *sorted(str(p) for p in dist.iterdir()))
    for name in PACKAGES:
        _check_alone(session, dist, name)


def _check_alone(session: nox.Session, dist: Path, name: str) -> None:
    """Install one package's wheel into a fresh venv (its jupyssh dependencies from dist/)
    and check that `jupyssh --version` lists it."""
    distribution = f"jupyssh-{name}"
    wheel = next(dist.glob(f"{distribution.replace('-', '_')}-*.whl"))
    venv = Path(session.create_tmp()) / f"alone-{name}"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv), external=True)
    python = str(venv / "bin" / "python")
    session.run(
        "uv", "pip", "install", "--quiet", "--python", python,
        "--find-links", str(dist), str(wheel),
        external=True,
    )  # fmt: skip
    listed = session.run(str(venv / "bin" / "jupyssh"), "--version", silent=True, external=True)
    if not isinstance(listed, str) or distribution not in listed:
        session.error(f"`jupyssh --version` in a venv with only {wheel.name} lacks it: {listed}")
    session.log(f"{wheel.name} alone: {' / '.join(listed.split())}")


@nox.session(python=False, default=False)
def dev(session: nox.Session) -> None:
    """Make .venv: every package editable, the harness, and all dev tools."""
    venv = ROOT / ".venv"
    session.run("uv", "venv", "--allow-existing", str(venv), external=True)
    groups = nox.project.dependency_groups(
        PYPROJECT, "test", "lint", "typecheck", "integration", "docs", "build"
    )
    session.run(
        "uv", "pip", "install", "--python", str(venv / "bin" / "python"),
        *_editables(), "-e", "integration", *groups,
        external=True,
    )  # fmt: skip
    session.log(f"ready: source {venv}/bin/activate")
