"""Static checks of every Containerfile (test_images.py builds and runs the CPU and hooks ones).

They are parsed the way a builder reads them (continuation lines, ARG defaults, stages), and
held to what the cluster needs: bases pinned by digest, a numeric non-root user, OCI labels,
the service on port 8080 without HEALTHCHECK, and every COPY source present in the build context
the pipeline gives it (the repository root, CONTEXT "." in glm-tts-cicd) and not excluded by
.dockerignore.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from glm_tts_server.backends.glmtts import UPSTREAM_COMMIT
from glm_tts_server.constants import HTTP_PORT

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "inference" / "Containerfile"
CPU = ROOT / "inference" / "Containerfile.cpu"
HOOKS = ROOT / "hooks" / "Containerfile"
ALL = [GPU, CPU, HOOKS]
DIGEST_RE = re.compile(r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
REQUIRED_LABELS = ("title", "description", "version", "revision", "created", "licenses", "source")


@dataclass
class Stage:
    base: str
    name: str | None
    args: dict[str, str] = field(default_factory=dict)
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [value for kw, value in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        pairs = (token.split("=", 1) for value in self.all("ENV") for token in shlex.split(value))
        return dict(pair for pair in pairs if len(pair) == 2)

    def labels(self) -> dict[str, str]:
        pairs = (token.split("=", 1) for value in self.all("LABEL") for token in shlex.split(value))
        return dict(pair for pair in pairs if len(pair) == 2)


@dataclass
class Containerfile:
    global_args: dict[str, str]
    stages: list[Stage]
    text: str

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the file ends inside a continued instruction"
    return lines


def _expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def parse(path: Path) -> Containerfile:
    text = path.read_text()
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "ARG":
            name, _, default = value.partition("=")
            target = stages[-1].args if stages else global_args
            # `ARG NAME` in a stage re-imports the global default
            target[name] = default if default else global_args.get(name, "")
        elif keyword == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=_expand(parts[0], global_args), name=name))
        else:
            assert stages, f"{path.name}: {keyword} before the first FROM"
            stages[-1].instructions.append((keyword, value))
    return Containerfile(global_args, stages, text)


@pytest.fixture(params=ALL, ids=["gpu", "cpu", "hooks"])
def containerfile(request) -> Containerfile:
    return parse(request.param)


@pytest.fixture(params=[GPU, CPU], ids=["gpu", "cpu"])
def service_containerfile(request) -> Containerfile:
    return parse(request.param)


def test_every_base_is_pinned_by_digest(containerfile):
    names = set()
    for stage in containerfile.stages:
        pinned = stage.base in names or stage.base == "scratch" or DIGEST_RE.match(stage.base)
        assert pinned, f"base {stage.base!r} is not pinned by digest"
        if stage.name:
            names.add(stage.name)


def test_nothing_floats_on_latest(containerfile):
    assert ":latest" not in containerfile.text


def test_runs_as_a_numeric_non_root_user(containerfile):
    users = containerfile.final.all("USER")
    assert users, "the final stage sets no USER (it would run as root)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]} must be a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) != 0)


def test_carries_the_oci_labels(containerfile):
    labels = containerfile.final.labels()
    missing = [k for k in REQUIRED_LABELS if f"org.opencontainers.image.{k}" not in labels]
    assert not missing, f"missing OCI labels: {missing}"
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"  # the pipeline passes REVISION


def test_serves_on_the_contract_port_without_a_healthcheck(service_containerfile):
    final = service_containerfile.final
    assert final.all("EXPOSE") == [str(HTTP_PORT)]
    assert not any(stage.all("HEALTHCHECK") for stage in service_containerfile.stages), (
        "no HEALTHCHECK: Kubernetes probes /healthz and /readyz"
    )
    assert final.all("ENTRYPOINT") == ['["glm-tts-server"]']
    assert final.all("CMD") == ['["serve"]']


def _ignored_by_dockerignore(path: str) -> bool:
    """.dockerignore semantics for the allow-list file we keep: `*`, then `!path` re-includes, then
    `**/__pycache__` and `**/*.pyc` exclude again; the last matching rule wins."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if (
            pattern == "*"
            or path == pattern
            or path.startswith(pattern + "/")
            or (pattern.startswith("**/") and pattern[3:] in path.split("/"))
        ):
            ignored = not negate
    return ignored


def test_copy_sources_exist_in_the_repository_root_context(containerfile):
    """glm-tts-cicd builds every Containerfile with CONTEXT "." (issue: the hooks image once
    expected hooks/ as its context and every pipeline run failed)."""
    for stage in containerfile.stages:
        for value in stage.all("COPY"):
            if value.startswith("--from="):
                continue
            *sources, _dest = shlex.split(value)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the build context (repo root)"
                assert not _ignored_by_dockerignore(source), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context():
    local_state = (
        ".venv/bin/python",
        ".tools/bin/helm",
        ".git/HEAD",
        "hooks/glm_tts_hooks/__pycache__/a.pyc",
    )
    for path in local_state:
        assert _ignored_by_dockerignore(path), f"{path} would be sent to the builder"


@pytest.mark.parametrize("path", [CPU, HOOKS], ids=["cpu", "hooks"])
def test_runtime_stage_is_scratch_plus_the_assembled_root(path):
    """No shell: the final stage starts FROM scratch and takes only the assembled runtime and the venv."""
    parsed = parse(path)
    assert parsed.final.base == "scratch"
    copies = parsed.final.all("COPY")
    assert copies[0] == "--from=build /rootfs /"
    assert all(c.startswith("--from=build /opt/") for c in copies[1:])
    assert not parsed.final.all("RUN"), "a RUN in the final stage needs a shell"


def test_gpu_image_fetches_upstream_at_the_pinned_commit():
    gpu = parse(GPU)
    commit = gpu.global_args["GLMTTS_COMMIT"]
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert commit == UPSTREAM_COMMIT, "the image and the glmtts backend must pin the same upstream commit"
    build = gpu.stages[0]
    run = " ".join(build.all("RUN"))
    assert 'checkout --detach "${GLMTTS_COMMIT}"' in run
    assert 'rev-parse HEAD)" = "${GLMTTS_COMMIT}"' in run


def test_gpu_image_pins_torch_and_ships_the_hooks():
    gpu = parse(GPU)
    build = gpu.stages[0]
    for arg in ("TORCH_VERSION", "TORCHAUDIO_VERSION", "TORCHVISION_VERSION"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", build.args[arg]), f"{arg} must be an exact version"
    run = " ".join(build.all("RUN"))
    assert "-c /opt/torch-constraints.txt" in run, "later installs must not replace the pinned torch"
    assert "/src/hooks" in run and "glm-tts-hooks --version" in run
    env = gpu.final.env()
    assert env["GLMTTS_BACKEND"] == "glmtts"
    assert env["GLMTTS_MODEL_DIR"] == "/models"
    assert env["GLMTTS_CODE_DIR"] == "/opt/glm-tts"
    assert "COPY --from=build /opt/glm-tts /opt/glm-tts" in gpu.text


def test_hooks_image_installs_the_cluster_extras_and_no_torch():
    hooks = parse(HOOKS)
    installs = " ".join(v for stage in hooks.stages for v in stage.all("RUN"))
    assert '"/src/hooks[cluster,weights,image-policy]"' in installs
    assert "torch" not in installs.lower()
    assert hooks.final.all("ENTRYPOINT") == ['["glm-tts-hooks"]']


def test_gpu_image_installs_hooks_without_cluster_extras():
    run = " ".join(parse(GPU).stages[0].all("RUN"))
    assert "/src/hooks[" not in run, "the server image runs cuda-check only: no cluster-side extras"


def test_cpu_image_uses_espeak_and_no_torch():
    cpu = parse(CPU)
    assert cpu.final.env()["GLMTTS_BACKEND"] == "espeak"
    installs = " ".join(v for stage in cpu.stages for v in stage.all("RUN"))
    assert "pip install /src/inference" in installs
    assert "torch" not in installs.lower()
