"""Every Task and Pipeline as a Tekton bundle: pushed by the real `tkn bundle push` to a real
registry (Debian's docker-registry on loopback), read back with `tkn bundle list` and compared with
its YAML, signed by the real `cosign` and verified; the READMEs pin exactly these digests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from bundles import list_back, push, readme_digest, resources
from harness.tools import require_tool
from oci_registry import local_registry, registry_binary

RESOURCES = resources()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    if registry_binary() is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("docker-registry is missing: `make sysdeps` must install it in CI")
        pytest.skip("docker-registry is not installed: run `make sysdeps`")
    with local_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    """{name: (ref, digest)} for every catalog resource, pushed once."""
    tkn = require_tool("tkn")
    home = tmp_path_factory.mktemp("tkn-home")
    out = {}
    for r in RESOURCES:
        ref = f"{registry}/tekton/{r.name}:{r.version}"
        out[r.name] = (ref, push(tkn, ref, r.path, home))
    return out


def test_catalog_has_bundles_to_push():
    assert len(RESOURCES) == 12 and {r.kind for r in RESOURCES} == {"Task", "Pipeline"}
    # a bundle is ghcr.io/glm-tts/tekton/<name>:<version> whatever its kind: a Task and a Pipeline
    # of the same name would overwrite each other there
    assert len({r.name for r in RESOURCES}) == len(RESOURCES)


def canonical(obj, in_resources: bool = False):
    """What the Go types make of our YAML: zero values dropped (tkn writes `computeResources: {}`,
    `metadata: {}` and `spec: null` into embedded taskSpecs) and resource quantities as strings."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            value = canonical(value, in_resources or key == "computeResources")
            if value not in ({}, None):
                out[key] = value
        return out
    if isinstance(obj, list):
        return [canonical(item, in_resources) for item in obj]
    if in_resources and isinstance(obj, int | float) and not isinstance(obj, bool):
        return str(obj)
    return obj


def test_canonical_form_keeps_real_differences():
    assert canonical({"a": {}, "b": None, "c": {"computeResources": {"limits": {"x": 1}}}}) == {
        "c": {"computeResources": {"limits": {"x": "1"}}}
    }
    assert canonical({"steps": [{"name": "a"}]}) != canonical({"steps": [{"name": "b"}]})


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.name for r in RESOURCES])
def test_bundle_reads_back_as_its_yaml(resource, pushed, tmp_path):
    tkn = require_tool("tkn")
    ref, digest = pushed[resource.name]
    (back,) = list_back(tkn, f"{ref.rsplit(':', 1)[0]}@{digest}", tmp_path)
    (source,) = [d for d in yaml.safe_load_all(resource.path.read_text()) if d]
    assert (back["kind"], back["metadata"]["name"]) == (resource.kind, resource.name)
    assert canonical(back["spec"]) == canonical(source["spec"])
    for key in ("labels", "annotations"):
        assert back["metadata"].get(key) == source["metadata"].get(key)


def test_bundles_are_reproducible_and_the_readmes_pin_their_digests(pushed, registry, tmp_path):
    tkn = require_tool("tkn")
    stale = []
    for r in RESOURCES:
        _ref, digest = pushed[r.name]
        again = push(tkn, f"{registry}/tekton-again/{r.name}:{r.version}", r.path, tmp_path)
        assert again == digest, f"{r.name}: two pushes of the same YAML gave two digests"
        if readme_digest(r) != digest:
            stale.append(f"{r.name}: README pins {readme_digest(r)}, the bundle is {digest}")
    assert not stale, "\n".join(stale) + "\nrun `python tests/tekton/bundles.py` to update the READMEs"


def cosign(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(home), COSIGN_PASSWORD="", DOCKER_CONFIG=str(home / ".docker"))
    proc = subprocess.run(
        [str(require_tool("cosign")), *args], capture_output=True, text=True, timeout=120, env=env, cwd=home
    )
    if check:
        assert proc.returncode == 0, f"cosign {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def test_bundles_are_signed_and_verified_by_cosign(pushed, tmp_path):
    """Offline signing (no transparency log), as a release without Rekor access would."""
    signer, other = tmp_path / "signer", tmp_path / "other"
    for home in (signer, other):
        home.mkdir()
        cosign("generate-key-pair", home=home)
    offline = ["--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "--yes"]
    check = ["--insecure-ignore-tlog=true", "--allow-http-registry"]
    for ref, digest in pushed.values():
        pinned = f"{ref.rsplit(':', 1)[0]}@{digest}"
        cosign("sign", "--key", "cosign.key", *offline, pinned, home=signer)
        cosign("verify", "--key", "cosign.pub", *check, pinned, home=signer)
        wrong = cosign("verify", "--key", "cosign.pub", *check, pinned, home=other, check=False)
        assert wrong.returncode != 0, f"{pinned} verified with a key that never signed it"
