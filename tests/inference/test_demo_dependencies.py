"""`make demo` stays light: the service's own dependencies never pull torch, CUDA or test tools."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
HEAVY = re.compile(r"^(torch|torchaudio|torchvision|nvidia-.*|triton|pytest.*|ruff|schemathesis|hypothesis)$")


def _closure(name: str, seen: set[str]) -> set[str]:
    """`name` and everything it requires at run time (no extras), as installed here."""
    key = name.lower().replace("_", "-")
    if key in seen:
        return seen
    seen.add(key)
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        _closure(requirement.name, seen)
    return seen


def test_the_service_needs_no_torch_cuda_or_test_tools():
    closure = _closure("glm-tts-server", set())
    assert {"fastapi", "av", "espeakng-loader"} <= closure
    heavy = sorted(name for name in closure if HEAVY.match(name))
    assert heavy == [], f"the service's runtime dependencies pull {heavy}: make demo would install them"


def test_make_demo_installs_only_the_service_into_its_own_virtualenv():
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(DEMO_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no $(DEMO_STAMP) rule"
    installs = [line for line in recipe.group(1).splitlines() if "pip install" in line]
    assert installs and all(line.rstrip().endswith("-e inference") for line in installs), installs
    assert "requirements" not in recipe.group(1)
    demo = re.search(r"^demo: (.*)$", makefile, re.M)
    assert demo and demo.group(1).strip() == "$(DEMO_STAMP)", "make demo must not depend on the test venv"
