"""``python -m jupyssh.kernel …`` is ``jupyssh kernel …`` (the kernelspec argv fallback)."""

from __future__ import annotations

import sys

from jupyssh.core.cli import main

if __name__ == "__main__":
    main(["kernel", *sys.argv[1:]])
