"""Tekton bundles of the catalog, built by the real `tkn bundle push` (reproducible: fixed created time).

`python tests/tekton/bundles.py` pushes every Task and Pipeline to a throwaway local registry and
writes each bundle's digest into its README's bundles-resolver reference (the digest depends only on
the YAML, so it is the digest the release publishes at ghcr.io/glm-tts/tekton/<name>:<version>).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

if __name__ == "__main__":  # run as a script: find `harness` as pytest does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.paths import TEKTON_CATALOG
from harness.tools import tool_path
from task_steps import catalog_resources

BUNDLE_REPO = "ghcr.io/glm-tts/tekton"
PUSHED = re.compile(r"@(sha256:[0-9a-f]{64})")
README_REF = re.compile(
    r"(value: " + re.escape(BUNDLE_REPO) + r"/(?P<name>[a-z0-9-]+):(?P<version>[0-9.]+)@)"
    r"sha256:(?:[0-9a-f]{64}|<digest>)"
)


@dataclass(frozen=True)
class Resource:
    kind_dir: str
    name: str
    version: str
    path: Path

    @property
    def kind(self) -> str:
        return {"task": "Task", "pipeline": "Pipeline"}[self.kind_dir]

    @property
    def readme(self) -> Path:
        return self.path.parent / "README.md"


def resources() -> list[Resource]:
    return [Resource(k, n, v, p) for k in ("task", "pipeline") for n, v, p in catalog_resources(k)]


def tkn_env(home: Path) -> dict[str, str]:
    # tkn keeps a bundle cache and docker config under HOME; keep both out of the user's.
    return dict(os.environ, HOME=str(home), DOCKER_CONFIG=str(home / ".docker"))


def push(tkn: Path, ref: str, path: Path, home: Path) -> str:
    """`tkn bundle push`; returns the digest it pushed."""
    proc = subprocess.run(
        [str(tkn), "bundle", "push", ref, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=tkn_env(home),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tkn bundle push {ref} failed: {proc.stdout}{proc.stderr}")
    found = PUSHED.search(proc.stdout + proc.stderr)
    if not found:
        raise RuntimeError(f"tkn bundle push printed no digest: {proc.stdout}{proc.stderr}")
    return found.group(1)


def list_back(tkn: Path, ref: str, home: Path) -> list[dict]:
    """The objects `tkn bundle list` reads back from the registry.

    (No --remote-skip-tls: tkn v0.46.0 dereferences a nil TLS config with it and panics; loopback
    registries are plain HTTP for go-containerregistry anyway.)
    """
    proc = subprocess.run(
        [str(tkn), "bundle", "list", ref, "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        env=tkn_env(home),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tkn bundle list {ref} failed: {proc.stdout}{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def readme_digest(resource: Resource) -> str | None:
    """The digest the README's bundles-resolver reference pins, if it pins one."""
    ref = f"{BUNDLE_REPO}/{resource.name}:{resource.version}@"
    match = re.search(re.escape(ref) + r"(sha256:[0-9a-f]{64})", resource.readme.read_text())
    return match.group(1) if match else None


def write_readme_digest(resource: Resource, digest: str) -> None:
    text = resource.readme.read_text()
    new, count = README_REF.subn(lambda m: m.group(1) + digest, text)
    assert count == 1, f"{resource.readme}: expected one bundles reference, found {count}"
    resource.readme.write_text(new)


def main() -> int:
    from oci_registry import local_registry

    tkn = tool_path("tkn")
    if tkn is None:
        print("tkn is not built: run `make tools`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, local_registry(Path(tmp) / "registry") as host:
        for resource in resources():
            digest = push(tkn, f"{host}/tekton/{resource.name}:{resource.version}", resource.path, Path(tmp))
            write_readme_digest(resource, digest)
            print(f"{resource.kind_dir}/{resource.name}/{resource.version}: {digest}")
    print(f"README digests written under {TEKTON_CATALOG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
