#!/usr/bin/env python3
"""Regenerate the parameter tables in every chart's README from the `## @param` comments in values.yaml.

Uses bitnami's readme-generator-for-helm (installed by `make tools`). `--check` regenerates into a
temporary copy and fails when a committed README differs, which is what CI wants.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "readme-generator"


def generate(values: Path, readme: Path) -> None:
    subprocess.run(
        [str(GENERATOR), "--values", str(values), "--readme", str(readme)],
        check=True,
        capture_output=True,
        text=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a README is stale; change nothing")
    args = parser.parse_args(argv)
    if not GENERATOR.is_file():
        print(f"gen-chart-docs: {GENERATOR} missing: run `make tools`", file=sys.stderr)
        return 2
    stale = []
    for chart in sorted(p.parent for p in (ROOT / "charts").glob("*/Chart.yaml")):
        values, readme = chart / "values.yaml", chart / "README.md"
        if not readme.is_file():
            print(f"gen-chart-docs: {readme} missing (it needs a '## Parameters' section)", file=sys.stderr)
            stale.append(chart.name)
            continue
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / "README.md"
                shutil.copy(readme, copy)
                generate(values, copy)
                if copy.read_text() != readme.read_text():
                    stale.append(chart.name)
                    print(f"gen-chart-docs: {readme.relative_to(ROOT)} is stale: run `make docs`")
        else:
            generate(values, readme)
            print(f"gen-chart-docs: {readme.relative_to(ROOT)} updated")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
