#!/usr/bin/env python3
"""Image build time and size against a budget: the CPU service image and the hooks image.

Built with buildah from the locally debootstrapped base (tests/images/buildah.py); the build here is
forced through buildah's layer cache, so the time printed is a cached build (a cold build on a
2-core machine is many minutes: debootstrap, apt, pip; tests skip even the cached build when the
image's inputs are unchanged). Sizes: the uncompressed root filesystem (what a
node stores) and the compressed layers pushed to a local registry (what a node pulls).

Budgets (compressed pull size / uncompressed):
  glm-tts-cpu    120 MB / 300 MB  Python 3.11 runtime ~45 MB, numpy + OpenBLAS ~75 MB, eSpeak NG data
                                  ~21 MB, pedalboard ~21 MB, uvloop ~14 MB, FastAPI stack; no shell,
                                  no apt, no compiler. A kind node pulls it in seconds.
  glm-tts-hooks  100 MB / 350 MB  the same runtime and numpy, plus the official Kubernetes client
                                  (128 MB unpacked: generated models for every API group), cryptography
                                  and huggingface_hub; it runs as short Jobs and Tekton steps, so the
                                  pull size is what matters and stays under the service image's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the image and registry helpers

from image_policy.registry_fixture import REGISTRY_BINARY, LocalRegistry
from images.images import CONTAINERFILES, HOOKS, SERVICE_CPU, VENVS, container, write_sbom

from images import buildah

BUDGET_MB = {SERVICE_CPU: (120, 300), HOOKS: (100, 350)}
MB = 1_000_000


SBOM_DIR = Path(__file__).resolve().parents[2] / "bench-out" / "sbom"


def uncompressed_bytes_and_sbom(reference: str) -> tuple[int, Path]:
    """Root filesystem size, and the image's CycloneDX SBOM written to bench-out/sbom/."""
    SBOM_DIR.mkdir(parents=True, exist_ok=True)
    name = reference.rsplit("/", 1)[-1].split(":")[0]
    with container(reference) as box:
        out = subprocess.run(["du", "-sb", box.mountpoint], capture_output=True, text=True, check=True)
        sbom = write_sbom(box, VENVS[reference], SBOM_DIR / f"{name}.cdx.json")
    return int(out.stdout.split()[0]), sbom


def pushed_bytes(reference: str, registry: LocalRegistry) -> int:
    repository = reference.split("/", 1)[1].split(":")[0]
    buildah.buildah("push", "--tls-verify=false", reference, f"docker://{registry.host}/{repository}:bench")
    manifest = httpx.get(
        f"{registry.url}/v2/{repository}/manifests/bench",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=30,
    ).json()
    return manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])


def main() -> int:
    reason = buildah.missing_prerequisite()
    if reason:
        print(f"skipped: {reason}")
        return 0
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        registry = LocalRegistry(REGISTRY_BINARY, Path(tmp))
        registry.start()
        try:
            for reference, containerfile in CONTAINERFILES.items():
                build = buildah.build(containerfile, reference, force=True)
                pulled = pushed_bytes(reference, registry)
                stored, sbom = uncompressed_bytes_and_sbom(reference)
                budget_pull, budget_stored = BUDGET_MB[reference]
                ok = pulled <= budget_pull * MB and stored <= budget_stored * MB
                failed |= not ok
                verdict = "ok" if ok else "OVER BUDGET"
                pull_ratio = pulled / (budget_pull * MB)
                disk_ratio = stored / (budget_stored * MB)
                print(
                    f"{reference:40s} build {build.seconds:6.1f} s   "
                    f"pull {pulled / MB:6.1f} MB ({pull_ratio:.2f} of {budget_pull} MB)   "
                    f"on disk {stored / MB:6.1f} MB ({disk_ratio:.2f} of {budget_stored} MB)   {verdict}"
                )
                print(f"{'':40s} CycloneDX SBOM: {sbom.relative_to(SBOM_DIR.parents[1])}")
        finally:
            registry.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
