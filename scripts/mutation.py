#!/usr/bin/env python3
"""Mutation testing of the core logic with mutmut: a score per module, judged by the module's own tests.

Each module listed in tools/mutation.toml is mutated in a workspace of its own (.mutation/<name>/: a copy
of its package, the tests folder and pyproject.toml), and mutmut runs only the module's test files against
every mutant. Survivors listed in tools/mutation-equivalent.toml (with the reason no input can tell them
apart) are left out of the score; a listed mutant that no longer survives is a stale entry and an error.

    scripts/mutation.py                      every module, then the table; exit 1 if one is under threshold
    scripts/mutation.py text g2p             those modules only
    scripts/mutation.py --survivors text     also print each surviving mutant's diff
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "mutation.toml"
EQUIVALENT = ROOT / "tools" / "mutation-equivalent.toml"
WORKSPACES = ROOT / ".mutation"
# mutmut runs the tests in-process, so it must be the one installed beside this interpreter.
MUTMUT = str(Path(sys.executable).with_name("mutmut"))

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code): what counts as caught.
KILLED = {1, 3}
TIMEOUT = {24, -24, 36, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


@dataclass
class Module:
    name: str
    source: Path  # relative to ROOT, e.g. inference/glm_tts_server/text.py
    tests: list[Path]

    @property
    def package_dir(self) -> Path:
        """The top-level package folder that holds the source (copied whole, so imports work)."""
        return ROOT / self.source.parts[0] / self.source.parts[1]

    @property
    def in_package(self) -> Path:
        """The source's path inside the workspace (package-relative)."""
        return Path(*self.source.parts[1:])

    @property
    def workspace(self) -> Path:
        return WORKSPACES / self.name.replace("/", "-")


@dataclass
class Score:
    module: Module
    killed: list[str] = field(default_factory=list)
    timeout: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def judged(self) -> int:
        """Mutants that a test could have caught: everything but those judged equivalent."""
        return (
            len(self.killed) + len(self.timeout) + len(self.survived) + len(self.no_tests) + len(self.other)
        )

    @property
    def percent(self) -> float:
        return 100.0 * (len(self.killed) + len(self.timeout)) / self.judged if self.judged else 100.0


def load_modules(path: Path) -> tuple[float, list[Module]]:
    data = tomllib.loads(path.read_text())
    modules = [
        Module(name=m["name"], source=Path(m["source"]), tests=[Path(t) for t in m["tests"]])
        for m in data["module"]
    ]
    return float(data.get("threshold", 85.0)), modules


def load_equivalent(path: Path) -> dict[str, str]:
    """Mutant name -> why it is equivalent."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    missing = [e.get("mutant", "?") for e in entries if not str(e.get("reason", "")).strip()]
    if missing:
        raise SystemExit(f"{path.name}: every equivalent mutant needs a reason; missing for {missing}")
    return {e["mutant"]: e["reason"] for e in entries}


def prepare_workspace(module: Module) -> None:
    if not module.tests:
        raise SystemExit(f"{module.name}: no test files listed (fix tools/mutation.toml)")
    missing = [str(t) for t in [module.source, *module.tests] if not (ROOT / t).is_file()]
    if missing:
        raise SystemExit(f"{module.name}: missing {', '.join(missing)} (fix tools/mutation.toml)")
    shutil.rmtree(module.workspace, ignore_errors=True)
    module.workspace.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(module.package_dir, module.workspace / module.package_dir.name, ignore=ignore)
    shutil.copytree(ROOT / "tests", module.workspace / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", module.workspace / "pyproject.toml")
    # mutmut reads setup.cfg's [mutmut] section (a list: one item per line), paths relative to the workspace.
    tests = "\n    ".join(str(t) for t in module.tests)
    (module.workspace / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths = {module.package_dir.name}/\n"
        f"only_mutate = {module.in_package}\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -p\n    no:xdist\n"
    )


def run_mutmut(module: Module, workers: int) -> Path:
    log = module.workspace / "mutmut.log"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("w") as out:
        proc = subprocess.run(
            [MUTMUT, "run", "--max-children", str(workers)],
            cwd=module.workspace,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        if "could not find any test case for any mutant" in log.read_text(errors="replace"):
            raise SystemExit(
                f"{module.name}: none of {[str(t) for t in module.tests]} runs this module's code"
            )
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{module.name}: mutmut failed (exit {proc.returncode}); end of {log}:\n{tail}")
    return log


def read_results(module: Module, equivalent: dict[str, str]) -> Score:
    meta = module.workspace / "mutants" / module.in_package.with_name(module.in_package.name + ".meta")
    if not meta.is_file():
        raise SystemExit(f"{module.name}: mutmut wrote no results ({meta} is missing)")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    score = Score(module)
    for name, code in sorted(codes.items()):
        if code in SURVIVED and name in equivalent:
            score.equivalent.append(name)
        elif code in KILLED:
            score.killed.append(name)
        elif code in TIMEOUT:
            score.timeout.append(name)
        elif code in SURVIVED:
            score.survived.append(name)
        elif code in NO_TESTS:
            score.no_tests.append(name)
        elif code in SKIPPED:
            continue
        else:  # suspicious, segfault, not checked: not caught by a test
            score.other.append(name)
    return score


def stale_equivalents(scores: list[Score], equivalent: dict[str, str]) -> list[str]:
    """Listed equivalents of the modules just run that no longer exist or no longer survive."""
    prefixes = {module_prefix(s.module) for s in scores}
    listed = {name for name in equivalent if any(name.startswith(p) for p in prefixes)}
    still = {name for s in scores for name in s.equivalent}
    return sorted(listed - still)


def module_prefix(module: Module) -> str:
    return ".".join(module.in_package.with_suffix("").parts) + "."


def show(module: Module, names: list[str]) -> None:
    for name in names:
        diff = subprocess.run([MUTMUT, "show", name], cwd=module.workspace, capture_output=True, text=True)
        print(diff.stdout.rstrip() or diff.stderr.rstrip())
        print()


def table(scores: list[Score], threshold: float) -> str:
    head = ["module", "mutants", "killed", "timeout", "survived", "no tests", "equivalent", "score", "time"]
    rows = [
        [
            s.module.name,
            str(s.judged + len(s.equivalent)),
            str(len(s.killed)),
            str(len(s.timeout)),
            str(len(s.survived) + len(s.other)),
            str(len(s.no_tests)),
            str(len(s.equivalent)),
            f"{s.percent:.1f} %" + ("" if s.percent >= threshold else "  < " + f"{threshold:g} %"),
            f"{s.seconds:.0f} s",
        ]
        for s in scores
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in [head, *rows]
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help="module names from tools/mutation.toml (default: all)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="module list (default: %(default)s)")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT, help="judged-equivalent survivors")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="mutants run in parallel")
    args = parser.parse_args(argv)

    threshold, modules = load_modules(args.config)
    unknown = sorted(set(args.modules) - {m.name for m in modules})
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {[m.name for m in modules]}")
    chosen = [m for m in modules if not args.modules or m.name in args.modules]
    equivalent = load_equivalent(args.equivalent)

    scores = []
    for index, module in enumerate(chosen, 1):
        print(f"[{index}/{len(chosen)}] {module.name}: mutating {module.source} ...", flush=True)
        started = time.monotonic()
        prepare_workspace(module)
        run_mutmut(module, args.workers)
        score = read_results(module, equivalent)
        score.seconds = time.monotonic() - started
        scores.append(score)
        print(
            f"[{index}/{len(chosen)}] {module.name}: {score.percent:.1f} % "
            f"({len(score.killed) + len(score.timeout)} of {score.judged} caught) in {score.seconds:.0f} s",
            flush=True,
        )
        if args.survivors:
            show(module, score.survived + score.no_tests + score.other)

    print()
    print(table(scores, threshold))
    stale = stale_equivalents(scores, equivalent)
    if stale:
        print(f"\nstale entries in {args.equivalent.name} (no longer surviving mutants): {', '.join(stale)}")
    below = [s.module.name for s in scores if s.percent < threshold]
    if below:
        print(f"\nunder {threshold:g} %: {', '.join(below)} (--survivors NAME shows them)")
    return 1 if below or stale else 0


if __name__ == "__main__":
    sys.exit(main())
