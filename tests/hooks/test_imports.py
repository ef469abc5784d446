"""What each verb loads: cuda-check runs in the service image, which installs glm-tts-hooks without
the cluster extras, and preflight must start fast (no generated API classes, no models).

Each case runs in a fresh interpreter: an import, once done, cannot be undone in this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# What the base package must never need: the [cluster], [weights] and [image-policy] extras and
# their heavy dependencies.
CLUSTER_SIDE = (
    "kubernetes",
    "urllib3",
    "pydantic",
    "httpx",
    "soundfile",
    "huggingface_hub",
    "cryptography",
    "prometheus_client",
    "yaml",
)

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, json, sys
    BLOCKED = set(json.loads(sys.argv[1]))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed in this image (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run_python(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, check=False
    )


def test_cuda_check_runs_with_every_cluster_side_library_missing() -> None:
    code = BLOCKER + textwrap.dedent(
        """
        from glm_tts_hooks.cli import main
        rc = main(["cuda-check", "--output", "json"])
        print("RC", rc)
        """
    )
    done = run_python(code, json.dumps(CLUSTER_SIDE))
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout[: done.stdout.rindex("RC")])
    # No torch here either: the check fails with its own message, not an ImportError of ours.
    assert report["checks"][0]["name"] == "torch"
    assert done.stdout.rstrip().endswith(("RC 0", "RC 1"))


def test_help_of_every_verb_loads_nothing_cluster_side() -> None:
    code = BLOCKER + textwrap.dedent(
        """
        from glm_tts_hooks.cli import build_parser
        build_parser()
        """
    )
    done = run_python(code, json.dumps(CLUSTER_SIDE))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("verb", ["preflight", "verify", "cuda-check", "fetch-weights"])
def test_each_verb_parses_its_arguments_without_its_libraries(verb: str) -> None:
    code = BLOCKER + textwrap.dedent(
        f"""
        from glm_tts_hooks.cli import build_parser
        try:
            build_parser().parse_args([{verb!r}, "--help"])
        except SystemExit as exc:
            print("EXIT", exc.code)
        """
    )
    done = run_python(code, json.dumps(CLUSTER_SIDE))
    assert "EXIT 0" in done.stdout, done.stderr


def test_the_kubernetes_client_loads_without_its_models_and_api_classes() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import glm_tts_hooks.kube, glm_tts_hooks.preflight.checks
        loaded = sorted(sys.modules)
        print(json.dumps(loaded))
        """
    )
    done = run_python(code)
    loaded = set(json.loads(done.stdout))
    assert "kubernetes.client.rest" in loaded  # the official client is the API layer
    assert "pydantic" not in loaded  # in a pod (service account) nothing loads it
    heavy = [
        m
        for m in loaded
        if m.startswith(("kubernetes.client.models.", "kubernetes.client.api.", "kubernetes.dynamic"))
        or m in ("kubernetes.watch", "kubernetes.stream", "kubernetes.config.kube_config")
    ]
    assert heavy == []


def test_the_deferred_kubernetes_packages_still_work_for_other_code() -> None:
    code = textwrap.dedent(
        """
        import glm_tts_hooks.kube
        import kubernetes
        from kubernetes import client, config, watch
        from kubernetes.utils import create_from_dict
        assert callable(config.load_kube_config) and callable(create_from_dict)
        assert client.CoreV1Api.__name__ == "CoreV1Api" and watch.Watch
        print("OK", kubernetes.__version__)
        """
    )
    done = run_python(code)
    assert done.stdout.startswith("OK"), done.stderr


def test_a_complete_weights_volume_is_recognised_without_the_hub_client(tmp_path) -> None:
    """Every pod start runs fetch-weights: with a matching marker it must not even load the client."""
    ckpt = tmp_path / "ckpt"
    (ckpt / "llm").mkdir(parents=True)
    (ckpt / "llm" / "config.json").write_text("{}")
    marker = {
        "repo_id": "zai-org/GLM-TTS",
        "revision": "main",
        "commit": "0" * 40,
        "files": {"llm/config.json": {"size": 2, "checksum": "git-sha1:" + "0" * 40}},
    }
    (ckpt / ".glm-tts-weights.json").write_text(json.dumps(marker))
    code = BLOCKER + textwrap.dedent(
        f"""
        from glm_tts_hooks.cli import main
        print("RC", main(["fetch-weights", "--model-dir", {str(tmp_path)!r}, "--output", "json"]))
        """
    )
    done = run_python(code, json.dumps(CLUSTER_SIDE))
    assert done.stdout.rstrip().endswith("RC 0"), done.stdout + done.stderr
