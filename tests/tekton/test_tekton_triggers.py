"""The GitHub push trigger: bindings read real fields of a push payload, the CEL filter passes a push
to main and nothing else, and the TriggerTemplate yields a valid PipelineRun of glm-tts-cicd."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import celpy
import pytest
from harness.kube_schema import validate_all
from harness.paths import TEKTON_CATALOG
from harness.tekton_schema import validate_tekton
from task_steps import documents

FIXTURES = Path(__file__).parent / "fixtures"
TRIGGERS = TEKTON_CATALOG / "triggers" / "glm-tts-cicd"
PAYLOAD = json.loads((FIXTURES / "github-push.json").read_text())
HEADERS = json.loads((FIXTURES / "github-push.headers.json").read_text())


def objects() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in documents(TRIGGERS / "triggers.yaml")}


def resolve(expression: str, body: dict, headers: dict) -> str:
    """Resolve a TriggerBinding value `$(body.a.b)` / `$(header.Name)` the way Triggers does."""
    m = re.fullmatch(r"\$\((body|header)\.([^)]+)\)", expression)
    assert m, f"not a body/header reference: {expression}"
    scope, path = m.groups()
    if scope == "header":
        lowered = {k.lower(): v for k, v in headers.items()}
        assert path.lower() in lowered, f"header {path} is not sent by GitHub"
        return lowered[path.lower()]
    value = body
    for part in path.split("."):
        assert isinstance(value, dict) and part in value, f"body has no {path} (stopped at {part})"
        value = value[part]
    assert isinstance(value, str | int) and not isinstance(value, bool), f"{path} is not a scalar"
    return str(value)


def bound_params(body=PAYLOAD, headers=HEADERS) -> dict[str, str]:
    binding = objects()["TriggerBinding"]
    return {p["name"]: resolve(p["value"], body, headers) for p in binding["spec"]["params"]}


def test_binding_reads_a_real_push_payload():
    params = bound_params()
    assert params["git-revision"] == PAYLOAD["after"]
    assert re.fullmatch(r"[0-9a-f]{40}", params["git-revision"])
    assert params["git-revision"] == params["head-commit"]
    assert params["git-url"] == "https://github.com/glm-tts/glm-tts-k8s.git"
    assert params["repository"] == "example-org/glm-tts-k8s"
    assert params["delivery-id"] == HEADERS["X-GitHub-Delivery"]


def test_binding_path_typo_would_be_caught():
    with pytest.raises(AssertionError, match="head_comit"):
        resolve("$(body.head_comit.id)", PAYLOAD, HEADERS)


def cel_filter() -> str:
    listener = objects()["EventListener"]
    (trigger,) = listener["spec"]["triggers"]
    (cel,) = [i for i in trigger["interceptors"] if i["ref"]["name"] == "cel"]
    (flt,) = [p["value"] for p in cel["params"] if p["name"] == "filter"]
    return flt


def evaluate(expression: str, body: dict) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(expression))
    return bool(program.evaluate({"body": celpy.json_to_cel(body)}))


def test_cel_filter_accepts_push_to_main_only():
    flt = cel_filter()
    assert "body.ref == 'refs/heads/main'" in flt
    assert evaluate(flt, PAYLOAD) is True
    other_branch = copy.deepcopy(PAYLOAD) | {"ref": "refs/heads/feature/queue"}
    assert evaluate(flt, other_branch) is False
    tag = copy.deepcopy(PAYLOAD) | {"ref": "refs/tags/v0.1.0"}
    assert evaluate(flt, tag) is False
    deleted = copy.deepcopy(PAYLOAD) | {"deleted": True, "after": "0" * 40}
    assert evaluate(flt, deleted) is False


def test_github_interceptor_checks_the_secret_and_push_events_only():
    listener = objects()["EventListener"]
    (trigger,) = listener["spec"]["triggers"]
    (gh,) = [i for i in trigger["interceptors"] if i["ref"]["name"] == "github"]
    assert trigger["interceptors"][0] is gh, "the signature must be checked before anything else"
    params = {p["name"]: p["value"] for p in gh["params"]}
    assert params["eventTypes"] == ["push"]
    assert params["secretRef"]["secretName"] and params["secretRef"]["secretKey"]
    assert HEADERS["X-GitHub-Event"] in params["eventTypes"]
    assert trigger["bindings"] == [{"ref": objects()["TriggerBinding"]["metadata"]["name"]}]
    assert trigger["template"] == {"ref": objects()["TriggerTemplate"]["metadata"]["name"]}


def render_template(params: dict[str, str]) -> dict:
    template = objects()["TriggerTemplate"]
    values = {p["name"]: p.get("default") for p in template["spec"]["params"]}
    values.update(params)
    missing = [k for k, v in values.items() if v is None]
    assert not missing, f"template params without a binding or default: {missing}"
    (resource,) = template["spec"]["resourcetemplates"]
    text = json.dumps(resource)
    used = set(re.findall(r"\$\(tt\.params\.([a-z0-9-]+)\)", text))
    assert used <= set(values), f"template uses undeclared params {used - set(values)}"
    for name, value in values.items():
        text = text.replace(f"$(tt.params.{name})", value)
    return json.loads(text)


def test_template_renders_a_valid_pipelinerun_of_the_cicd_pipeline():
    run = render_template(bound_params())
    validate_tekton(run)
    assert run["spec"]["pipelineRef"] == {"name": "glm-tts-cicd"}
    (pipeline,) = documents(TEKTON_CATALOG / "pipeline/glm-tts-cicd/0.1.0/glm-tts-cicd.yaml")
    declared = {p["name"]: p for p in pipeline["spec"]["params"]}
    given = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert set(given) <= set(declared)
    required = {n for n, p in declared.items() if "default" not in p}
    assert required <= set(given), f"PipelineRun misses required params {required - set(given)}"
    assert given["GIT_REVISION"] == PAYLOAD["after"]
    assert run["metadata"]["labels"]["glm-tts.dev/commit"] == PAYLOAD["after"]
    tasks = {t["name"] for t in pipeline["spec"]["tasks"]}
    accounts = {s["pipelineTaskName"]: s["serviceAccountName"] for s in run["spec"]["taskRunSpecs"]}
    assert set(accounts) <= tasks
    assert accounts["deploy"] == "glm-tts-deployer" and accounts["preflight"] == "glm-tts-checker"
    bound = {w["name"] for w in run["spec"]["workspaces"]}
    assert {w["name"] for w in pipeline["spec"]["workspaces"] if not w.get("optional")} <= bound


def test_eventlistener_rbac_uses_the_standard_triggers_roles():
    docs = documents(TRIGGERS / "rbac.yaml")
    validate_all(docs)
    listener = objects()["EventListener"]
    sa = listener["spec"]["serviceAccountName"]
    refs = {(d["kind"], d["roleRef"]["name"]) for d in docs if "roleRef" in d}
    assert refs == {
        ("RoleBinding", "tekton-triggers-eventlistener-roles"),
        ("ClusterRoleBinding", "tekton-triggers-eventlistener-clusterroles"),
    }
    for d in docs:
        if "subjects" in d:
            assert d["subjects"] == [
                {"kind": "ServiceAccount", "name": sa, "namespace": listener["metadata"]["namespace"]}
            ]
