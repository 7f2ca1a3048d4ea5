"""``python -m jupyssh_harness``: prepare images, clean up, run a demo sandbox.

prepare [--wheel PATH]... [--image NAME]...   engine, base image, wheelhouses, images
cleanup [--role test|sandbox|all] [--images] [--base]
                                              remove labelled containers and networks
                                              (--images: built images; --base: and the base)
sandbox up [--state-dir DIR] | down           a long-running ssh host + Jupyter server
demo [STEP]...                                the sandbox, each installed package's demo
                                              step, and everything removed afterwards
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._common import HarnessError, log
from .containers import SANDBOX_LABEL, TEST_LABEL, cleanup
from .demo import STEPS, run_demo
from .images import HARNESS_LABEL, IMAGE_NAMES, prepare, remove_images
from .sandbox import Sandbox
from .wheelhouse import expand_wheel_paths, extra_wheels_from_env

_ROLES = {"test": [TEST_LABEL], "sandbox": [SANDBOX_LABEL], "all": [HARNESS_LABEL]}


def _prepare(args: argparse.Namespace) -> int:
    started = time.monotonic()
    wheels = [*extra_wheels_from_env(), *expand_wheel_paths(Path(p) for p in args.wheel)]
    images = prepare(args.image or IMAGE_NAMES, extra_wheels=wheels)
    for image in images.values():
        print(image.tag)
    built = [name for name, image in images.items() if image.built]
    log(
        f"prepare: {len(built)} built, {len(images) - len(built)} up to date, "
        f"{time.monotonic() - started:.1f}s"
    )
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    for label in _ROLES[args.role]:
        report = cleanup(label)
        log(f"cleanup {label}: {report.containers} containers, {report.networks} networks")
    if args.images or args.base:
        remove_images(include_base=args.base)
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    if args.action == "down":
        report = cleanup(SANDBOX_LABEL)
        log(f"sandbox down: {report.containers} containers, {report.networks} networks removed")
        return 0
    cleanup(SANDBOX_LABEL)  # one sandbox at a time
    sandbox = Sandbox(args.state_dir).start()  # left running on purpose: `sandbox down` stops it
    summary = json.loads((sandbox.state_dir / "sandbox.json").read_text())
    print(json.dumps(summary, indent=2))
    log(f"try: ssh -F {sandbox.config_file} {sandbox.alias} hostname")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jupyssh_harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="make the engine, base image, wheelhouses and images")
    p.add_argument(
        "--wheel",
        action="append",
        default=[],
        metavar="PATH",
        help="a wheel or a folder of wheels to install into the images (repeatable;"
        " also $JUPYSSH_EXTRA_WHEELS)",
    )
    p.add_argument(
        "--image",
        action="append",
        choices=IMAGE_NAMES,
        help="only this image (repeatable; default: all)",
    )
    p.set_defaults(func=_prepare)

    c = sub.add_parser("cleanup", help="remove labelled containers and networks")
    c.add_argument(
        "--role",
        choices=sorted(_ROLES),
        default="test",
        help="test suite's (default), the sandbox's, or all harness ones",
    )
    c.add_argument(
        "--images", action="store_true", help="also remove the built images (not the base image)"
    )
    c.add_argument(
        "--base", action="store_true", help="also remove the built images and the base image"
    )
    c.set_defaults(func=_cleanup)

    s = sub.add_parser("sandbox", help="start (up) or remove (down) the demo sandbox")
    s.add_argument("action", choices=["up", "down"])
    s.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where keys, ssh_config and token go (default: .cache/sandbox)",
    )
    s.set_defaults(func=_sandbox)

    d = sub.add_parser("demo", help="show what each installed package does, on a sandbox")
    d.add_argument(
        "steps", nargs="*", metavar="STEP", help=f"of: {', '.join(STEPS)} (default: all)"
    )
    d.set_defaults(func=lambda args: run_demo(args.steps))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"jupyssh_harness: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the with-blocks on the way up have removed what ran
        print("jupyssh_harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
