#!/usr/bin/env python3
"""`make bench`: run every tests/bench/bench_*.py in turn and print what each measured."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    selected = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not selected or p.stem in selected)
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script)], cwd=HERE.parents[1]).returncode
        print(f"--- {script.stem}: exit {rc}, {time.perf_counter() - start:.1f} s", flush=True)
        if rc:
            failed.append(script.stem)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
