#!/usr/bin/env python3
"""Time `helm template` of each charts/glm-tts profile with helm 3.17 and 4.3 (median of 5 runs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "glm-tts"
RUNS = 5


def render_seconds(helm: Path, profile: Path | None) -> float:
    args = [str(helm), "template", "glm-tts", str(CHART), "--namespace", "glm-tts"]
    if profile:
        args += ["--values", str(profile)]
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    helms = {major: ROOT / ".tools" / "bin" / f"helm{major}" for major in (3, 4)}
    missing = [str(h) for h in helms.values() if not h.is_file()]
    if missing:
        print(f"missing {missing}: run `make tools`", file=sys.stderr)
        return 2
    profiles = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
    print(f"{'profile':<20} {'helm 3.17 (ms)':>15} {'helm 4.3 (ms)':>14} {'4/3':>6}")
    for profile in profiles:
        t3, t4 = (render_seconds(helms[m], profile) for m in (3, 4))
        name = profile.stem if profile else "default"
        print(f"{name:<20} {t3 * 1000:>15.0f} {t4 * 1000:>14.0f} {t4 / t3:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
