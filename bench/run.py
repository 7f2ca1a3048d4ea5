"""Run jupyssh's benchmarks: ``python bench/run.py [NAME ...]`` (all when none named).

Each ``bench/bench_<NAME>.py`` measures one package against the baseline its issue names,
in the same run; figures go to ``bench/results/<NAME>.json`` and ``<NAME>.md``, and the
tables are printed at the end. ``nox -s bench -- NAME`` prepares the containers first.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS_DIR, Context, StealMeter  # noqa: E402 - bench/ is not a package


def available() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (of: {', '.join(available())})"
    )
    parser.add_argument("--samples", type=int, default=None, help="samples per measurement")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (have: {', '.join(available())})")
    failed: list[str] = []
    tables: list[str] = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        ctx = Context(name) if args.samples is None else Context(name, samples=args.samples)
        print(f"bench {name}: starting", flush=True)
        start = time.perf_counter()
        steal = StealMeter()
        try:
            module.run(ctx)
        except KeyboardInterrupt:
            print(f"bench {name}: interrupted", file=sys.stderr)
            return 130
        except Exception:  # noqa: BLE001 - one benchmark's failure must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        if (stolen := steal.note()) is not None:
            ctx.note(stolen)
        json_path, md_path = ctx.write(RESULTS_DIR)
        elapsed = time.perf_counter() - start
        print(f"bench {name}: done in {elapsed:.0f}s -> {json_path}, {md_path}", flush=True)
        tables.append(ctx.table())
    print("\n\n".join(tables))
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
