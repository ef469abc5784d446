#!/usr/bin/env python3
"""`helm lint --strict` each chart: defaults, ci/ profiles and environments/ files, on helm 3 and 4."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELMS = [ROOT / ".tools" / "bin" / f"helm{major}" for major in (3, 4)]


def main() -> int:
    charts = sorted(p.parent for p in (ROOT / "charts").glob("*/Chart.yaml"))
    failures = 0
    for helm in HELMS:
        if not helm.is_file():
            print(f"helm-lint: {helm} missing: run `make tools`", file=sys.stderr)
            return 2
        for chart in charts:
            # ci/ profiles (what ct installs) and environments/ files (what teams deploy).
            profiles = [
                None,
                *sorted((chart / "ci").glob("*-values.yaml")),
                *sorted((chart / "environments").glob("values-*.yaml")),
            ]
            for profile in profiles:
                args = [str(helm), "lint", "--strict", str(chart)]
                if profile:
                    args += ["--values", str(profile)]
                proc = subprocess.run(args, capture_output=True, text=True)
                label = f"{helm.name} {chart.name} {profile.name if profile else 'default values'}"
                if proc.returncode != 0:
                    failures += 1
                    print(f"helm-lint: FAIL {label}\n{proc.stdout}{proc.stderr}", file=sys.stderr)
                else:
                    print(f"helm-lint: ok   {label}")
    if not charts:
        print("helm-lint: no charts yet")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
