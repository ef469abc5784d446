"""Charts as released: packaged, pushed to a real OCI registry, pulled back, rendered from the registry,
signed and verified with cosign; versions bumped with a CHANGELOG entry whenever a chart changed.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from harness.helm import run_helm
from harness.paths import CHARTS, REPO
from harness.tools import require_tool
from image_policy.registry_fixture import LocalRegistry, oci_registry_binary

CHART_NAMES = ("glm-tts", "glm-tts-image-policy")
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")
CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}
BASE_REF = "main"
CI_VALUES = {"glm-tts": "cpu-values.yaml", "glm-tts-image-policy": "webhook-existing-tls-values.yaml"}


def chart_yaml(name: str) -> dict:
    return yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())


def semver(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    assert match, f"{version!r} is not a SemVer version"
    return int(match[1]), int(match[2]), int(match[3])


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", CHART_NAMES)
def test_chart_metadata_is_ready_for_artifact_hub(name):
    chart = chart_yaml(name)
    semver(chart["version"])
    annotations = chart["annotations"]
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    for key in ("artifacthub.io/images", "artifacthub.io/changes", "artifacthub.io/links"):
        entries = yaml.safe_load(annotations[key])
        assert isinstance(entries, list) and entries, f"{key} must be a non-empty YAML list"
    for image in yaml.safe_load(annotations["artifacthub.io/images"]):
        assert set(image) >= {"name", "image"} and ":" in image["image"].rsplit("/", 1)[-1]
    for change in yaml.safe_load(annotations["artifacthub.io/changes"]):
        assert change["kind"] in CHANGE_KINDS and change["description"].strip()
    for link in yaml.safe_load(annotations["artifacthub.io/links"]):
        assert link["url"].startswith("https://")
    changelog = (CHARTS / name / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(chart['version'])}\b", changelog, re.M), (
        f"charts/{name}/CHANGELOG.md has no '## {chart['version']}' section"
    )


def test_artifacthub_repository_file():
    metadata = yaml.safe_load((REPO / "artifacthub-repo.yml").read_text())
    assert metadata["owners"] and all("email" in owner for owner in metadata["owners"])


@pytest.mark.parametrize("name", CHART_NAMES)
def test_a_changed_chart_has_a_higher_version_than_main(name):
    if git("rev-parse", "--verify", "--quiet", BASE_REF).returncode != 0:
        pytest.skip(f"no local '{BASE_REF}' branch to compare against (ct lint checks it in CI)")
    unchanged = git("diff", "--quiet", BASE_REF, "--", f"charts/{name}").returncode == 0
    if unchanged:
        return
    shown = git("show", f"{BASE_REF}:charts/{name}/Chart.yaml")
    if shown.returncode != 0:
        return  # a new chart: any version is a bump
    before = yaml.safe_load(shown.stdout)["version"]
    after = chart_yaml(name)["version"]
    assert semver(after) > semver(before), (
        f"charts/{name} changed since {BASE_REF} but its version is {after} (was {before}): bump it"
    )


@pytest.fixture
def registry(tmp_path):
    registry = LocalRegistry(oci_registry_binary(), tmp_path / "registry")
    (tmp_path / "registry").mkdir()
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


def package_and_push(name: str, registry: LocalRegistry, tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "packages"
    out.mkdir(exist_ok=True)
    run_helm(4, ["package", str(CHARTS / name), "--destination", str(out)])
    package = out / f"{name}-{chart_yaml(name)['version']}.tgz"
    pushed = subprocess.run(
        [_helm4(), "push", str(package), f"oci://{registry.host}/charts", "--plain-http"],
        capture_output=True,
        text=True,
        check=True,
    )
    digest = re.search(r"Digest: (sha256:[0-9a-f]{64})", pushed.stdout + pushed.stderr)
    assert digest, pushed.stdout + pushed.stderr
    return package, digest[1]


def _helm4() -> str:
    from harness.helm import helm_binary

    return helm_binary(4)


@pytest.mark.parametrize("name", CHART_NAMES)
@pytest.mark.parametrize("helm", [3, 4])
def test_chart_from_the_oci_registry_renders_like_the_folder(name, helm, registry, tmp_path):
    package, _digest = package_and_push(name, registry, tmp_path)
    version = chart_yaml(name)["version"]
    reference = f"oci://{registry.host}/charts/{name}"
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    run_helm(helm, ["pull", reference, "--version", version, "--plain-http", "--destination", str(pulled)])
    with tarfile.open(pulled / package.name) as theirs, tarfile.open(package) as ours:
        assert sorted(theirs.getnames()) == sorted(ours.getnames())
    values = CHARTS / name / "ci" / CI_VALUES[name]
    flags = ["--namespace", "glm-tts", "--values", str(values)]
    from_registry = run_helm(
        helm, ["template", "rel", reference, *flags, "--version", version, "--plain-http"]
    )
    from_folder = run_helm(helm, ["template", "rel", str(CHARTS / name), *flags])
    assert from_registry == from_folder
    assert list(yaml.safe_load_all(from_registry))  # objects, not an empty render


def test_chart_signature_verifies_with_cosign_and_a_wrong_key_fails(registry, tmp_path, monkeypatch):
    cosign = str(require_tool("cosign"))
    monkeypatch.setenv("COSIGN_PASSWORD", "test-only")
    for prefix in ("release", "other"):
        subprocess.run(
            [cosign, "generate-key-pair", "--output-key-prefix", str(tmp_path / prefix)],
            check=True,
            capture_output=True,
        )
    _package, digest = package_and_push("glm-tts", registry, tmp_path)
    artefact = f"{registry.host}/charts/glm-tts@{digest}"
    # No transparency log here (offline): sign and verify against the key alone.
    offline = ["--allow-http-registry", "--allow-insecure-registry"]
    subprocess.run(
        [
            cosign,
            "sign",
            "--key",
            str(tmp_path / "release.key"),
            "--use-signing-config=false",
            "--tlog-upload=false",
            "--yes",
            *offline,
            artefact,
        ],
        check=True,
        capture_output=True,
        text=True,
    )

    def verify(key: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cosign, "verify", "--key", str(tmp_path / key), "--insecure-ignore-tlog", *offline, artefact],
            capture_output=True,
            text=True,
            check=False,
        )

    good = verify("release.pub")
    assert good.returncode == 0, good.stderr
    assert digest in good.stdout
    assert verify("other.pub").returncode != 0
