"""The image-policy case table, shared by the webhook tests and the chart's CEL/Kyverno tests.

Plain data only (importable without the webhook package). Each case:
  id                 unique name
  api                "AdmissionReview" (ValidatingWebhook) or "ImageReview" (ImagePolicyWebhook)
  policy             key into POLICIES (the image-policy file, contract format)
  namespace          request namespace
  kind               workload kind (AdmissionReview only): Pod, Deployment, StatefulSet, DaemonSet,
                     ReplicaSet, ReplicationController, Job, CronJob
  images             {"containers": [...], "initContainers": [...], "ephemeralContainers": [...]}
  allowed            expected decision (audit mode admits, with warnings)
  rule               first violated rule (policy.RULES order) or None; in audit mode the rule warned about
  needs_signatures   True: the decision depends on cosign signatures in a registry; the images hold
                     "{registry}", "{signed}" and "{unsigned}" placeholders the registry fixture fills in.
                     A CEL/Kyverno test without a registry skips these.
  http_status        expected HTTP status (200 unless the request itself is malformed)
  operation          "CREATE" (default) or "UPDATE"; an UPDATE case has
  old_images         the images of the oldObject (same shape as images): an UPDATE that brings no image
                     the old object did not run is admitted unjudged by every engine
  body               for malformed requests only: the name of a malformation request_body() applies;
                     engines that see only objects (CEL) skip cases that have it.
An image of None means the container has no `image` field. workload_object() and
admission_review() build the Kubernetes objects a case stands for.
"""

from __future__ import annotations

import hashlib

D1 = "sha256:" + hashlib.sha256(b"glm-tts server image").hexdigest()
D2 = "sha256:" + hashlib.sha256(b"glm-tts hooks image").hexdigest()
D3 = "sha256:" + hashlib.sha256(b"sidecar image").hexdigest()

OURS = "registry.example.com/glm-tts"

_BASE = {
    "allowedRegistries": [
        "registry.example.com/glm-tts/",
        "localhost:5000/",
        "quay.io",
        "docker.io/library/",
    ],
    "requireDigest": True,
    "deniedTags": ["latest", "dev"],
    "denyUntagged": True,
    "exemptNamespaces": ["kube-system"],
}

# Signature checks are off here: the pure rules are what every engine must agree on.
POLICIES = {
    "enforce": {"mode": "enforce", **_BASE},
    "audit": {"mode": "audit", **_BASE},
    # Tags admitted without a digest: isolates the untagged and denied-tag rules.
    "tags": {"mode": "enforce", **_BASE, "requireDigest": False},
}

WORKLOAD_KINDS = (
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
)


def _case(case_id: str, images: dict, allowed: bool, rule: str | None, **extra) -> dict:
    case = {
        "id": case_id,
        "api": "AdmissionReview",
        "policy": "enforce",
        "namespace": "glm-tts",
        "kind": "Pod",
        "images": images,
        "allowed": allowed,
        "rule": rule,
        "needs_signatures": False,
        "http_status": 200,
    }
    case.update(extra)
    return case


def _c(*images: str) -> dict:
    return {"containers": list(images)}


CASES: list[dict] = [
    # --- registry allow-list, prefixes on a path boundary --------------------------------------
    _case("allowed-registry-digest", _c(f"{OURS}/server@{D1}"), True, None),
    _case("allowed-registry-tag-and-digest", _c(f"{OURS}/server:1.2.0@{D1}"), True, None),
    _case("registry-not-allowed", _c(f"ghcr.io/evil/server@{D1}"), False, "registry"),
    _case(
        "registry-prefix-path-boundary",
        _c(f"registry.example.com/glm-tts-evil/server@{D1}"),
        False,
        "registry",
    ),
    _case("registry-prefix-exact-repository", _c(f"registry.example.com/glm-tts@{D1}"), True, None),
    _case(
        "registry-host-lookalike", _c(f"registry.example.com.evil.io/glm-tts/server@{D1}"), False, "registry"
    ),
    _case("registry-bare-host-admits-all-paths", _c(f"quay.io/any/team/image@{D1}"), True, None),
    _case("registry-host-case-insensitive", _c(f"Registry.Example.com/glm-tts/server@{D1}"), True, None),
    _case("registry-port-allowed", _c(f"localhost:5000/glm-tts/server@{D1}"), True, None),
    _case("registry-port-differs", _c(f"localhost:5001/glm-tts/server@{D1}"), False, "registry"),
    _case("registry-host-without-port", _c(f"localhost/glm-tts/server@{D1}"), False, "registry"),
    # --- short names normalised like the runtime -----------------------------------------------
    _case("short-name-official-image", _c(f"nginx@{D2}"), True, None),
    _case("short-name-official-explicit", _c(f"docker.io/library/nginx:1.27@{D2}"), True, None),
    _case("short-name-legacy-index-host", _c(f"index.docker.io/library/nginx@{D2}"), True, None),
    _case("short-name-user-repository", _c(f"someuser/nginx@{D2}"), False, "registry"),
    _case("short-name-not-a-host", _c(f"glm-tts/server@{D1}"), False, "registry"),
    # --- digest pinning -------------------------------------------------------------------------
    _case("digest-missing-tag-only", _c(f"{OURS}/server:1.2.0"), False, "digest"),
    _case("digest-malformed-short", _c(f"{OURS}/server@sha256:abc123"), False, "invalid-reference"),
    _case(
        "digest-malformed-uppercase",
        _c(f"{OURS}/server@{D1.upper().replace('SHA256', 'sha256')}"),
        False,
        "invalid-reference",
    ),
    _case("digest-wrong-algorithm", _c(f"{OURS}/server@sha512:{'ab' * 64}"), False, "digest"),
    _case("digest-empty-image", _c(""), False, "invalid-reference"),
    # A Deployment may leave image unset (for tools to fill in); such a template is never admitted.
    _case("image-missing", _c(None), False, "invalid-reference", kind="Deployment"),
    _case("invalid-reference-uppercase-repo", _c(f"{OURS}/Server@{D1}"), False, "invalid-reference"),
    # --- denied tags / untagged -----------------------------------------------------------------
    _case("denied-tag-latest", _c(f"{OURS}/server:latest"), False, "denied-tag"),
    _case("denied-tag-with-digest", _c(f"{OURS}/server:latest@{D1}"), False, "denied-tag"),
    _case("denied-tag-second-entry", _c(f"{OURS}/server:dev@{D1}"), False, "denied-tag"),
    _case("untagged-no-digest", _c(f"{OURS}/server"), False, "untagged"),
    _case("tags-policy-tag-allowed", _c(f"{OURS}/server:1.2.0"), True, None, policy="tags"),
    _case("tags-policy-untagged", _c(f"{OURS}/server"), False, "untagged", policy="tags"),
    _case("tags-policy-denied-tag", _c(f"{OURS}/server:latest"), False, "denied-tag", policy="tags"),
    # --- every container kind -------------------------------------------------------------------
    _case(
        "init-container-denied",
        {"containers": [f"{OURS}/server@{D1}"], "initContainers": [f"{OURS}/init:1.0"]},
        False,
        "digest",
    ),
    _case(
        "ephemeral-container-denied",
        {"containers": [f"{OURS}/server@{D1}"], "ephemeralContainers": ["busybox"]},
        False,
        "untagged",
    ),
    _case(
        "all-container-kinds-allowed",
        {
            "containers": [f"{OURS}/server@{D1}", f"quay.io/sidecar/proxy@{D3}"],
            "initContainers": [f"{OURS}/hooks@{D2}"],
            "ephemeralContainers": [f"nginx@{D2}"],
        },
        True,
        None,
    ),
    _case("second-container-denied", _c(f"{OURS}/server@{D1}", "ghcr.io/x/y:1"), False, "registry"),
    # --- every workload kind --------------------------------------------------------------------
    *[
        _case(f"workload-{kind.lower()}-denied", _c(f"{OURS}/server:1.0"), False, "digest", kind=kind)
        for kind in WORKLOAD_KINDS[1:]
    ],
    *[
        _case(
            f"workload-{kind.lower()}-allowed",
            {"containers": [f"{OURS}/server@{D1}"], "initContainers": [f"{OURS}/hooks@{D2}"]},
            True,
            None,
            kind=kind,
        )
        for kind in ("Deployment", "CronJob")
    ],
    # --- namespaces and modes -------------------------------------------------------------------
    _case("exempt-namespace", _c("ghcr.io/anything:latest"), True, None, namespace="kube-system"),
    _case("namespace-not-exempt", _c("ghcr.io/anything:latest"), False, "registry", namespace="kube-public"),
    _case(
        "audit-mode-admits-with-warning", _c("ghcr.io/evil/server:latest"), True, "registry", policy="audit"
    ),
    _case("audit-mode-clean", _c(f"{OURS}/server@{D1}"), True, None, policy="audit"),
    # --- UPDATEs: only images the old object did not run are judged ----------------------------
    # An existing non-compliant workload (admitted before the policy, or in audit) can still scale.
    _case(
        "update-unchanged-images-admitted",
        _c("ghcr.io/legacy/app:latest"),
        True,
        None,
        kind="Deployment",
        operation="UPDATE",
        old_images=_c("ghcr.io/legacy/app:latest"),
    ),
    _case(
        "update-image-removed-admitted",
        _c(f"{OURS}/server:1.0"),
        True,
        None,
        kind="CronJob",
        operation="UPDATE",
        old_images=_c(f"{OURS}/server:1.0", "ghcr.io/x/sidecar:1"),
    ),
    _case(
        "update-new-image-denied",
        _c("ghcr.io/legacy/app:2"),
        False,
        "registry",
        kind="Deployment",
        operation="UPDATE",
        old_images=_c("ghcr.io/legacy/app:latest"),
    ),
    # A new image means a rollout: new pods run every image, so every image is judged again.
    _case(
        "update-added-container-judges-every-image",
        _c("ghcr.io/legacy/app:latest", f"{OURS}/server:1.0"),
        False,
        "registry",
        kind="Job",
        operation="UPDATE",
        old_images=_c("ghcr.io/legacy/app:latest"),
    ),
    _case(
        "update-ephemeral-container-added-denied",
        {"containers": [f"{OURS}/server@{D1}"], "ephemeralContainers": ["busybox:latest"]},
        False,
        "denied-tag",
        operation="UPDATE",
        old_images=_c(f"{OURS}/server@{D1}"),
    ),
    # --- ImageReview v1alpha1 (kube-apiserver ImagePolicyWebhook) --------------------------------
    _case(
        "imagereview-allowed",
        _c(f"{OURS}/server@{D1}", f"nginx@{D2}"),
        True,
        None,
        api="ImageReview",
        kind=None,
    ),
    _case(
        "imagereview-denied-tag",
        _c(f"{OURS}/server:latest"),
        False,
        "denied-tag",
        api="ImageReview",
        kind=None,
    ),
    _case(
        "imagereview-denied-registry",
        _c(f"{OURS}/server@{D1}", f"ghcr.io/x/y@{D1}"),
        False,
        "registry",
        api="ImageReview",
        kind=None,
    ),
    _case(
        "imagereview-exempt-namespace",
        _c("ghcr.io/x/y:latest"),
        True,
        None,
        api="ImageReview",
        kind=None,
        namespace="kube-system",
    ),
    _case(
        "imagereview-audit",
        _c("ghcr.io/x/y:latest"),
        True,
        "registry",
        api="ImageReview",
        kind=None,
        policy="audit",
    ),
    # --- malformed requests (HTTP level; object engines skip these) ----------------------------
    _case("malformed-json", _c(), False, None, http_status=400, body="not-json"),
    _case(
        "wrong-api-version", _c(f"{OURS}/server@{D1}"), False, None, http_status=400, body="wrong-api-version"
    ),
    _case("wrong-kind", _c(f"{OURS}/server@{D1}"), False, None, http_status=400, body="wrong-kind"),
    _case("missing-request", _c(), False, None, http_status=400, body="missing-request"),
    _case("missing-uid", _c(f"{OURS}/server@{D1}"), False, None, http_status=400, body="missing-uid"),
    _case("containers-not-a-list", _c(), False, None, http_status=400, body="containers-not-a-list"),
    _case("oversized-body", _c(), False, None, http_status=413, body="oversized"),
    _case(
        "imagereview-wrong-api-version",
        _c(f"{OURS}/server@{D1}"),
        False,
        None,
        api="ImageReview",
        kind=None,
        http_status=400,
        body="wrong-api-version",
    ),
    _case(
        "imagereview-missing-spec",
        _c(),
        False,
        None,
        api="ImageReview",
        kind=None,
        http_status=400,
        body="missing-spec",
    ),
    # --- signatures (need the registry fixture) -------------------------------------------------
    _case("signed-image", _c("{registry}/glm-tts/server@{signed}"), True, None, needs_signatures=True),
    _case(
        "unsigned-image",
        _c("{registry}/glm-tts/server@{unsigned}"),
        False,
        "signature",
        needs_signatures=True,
    ),
    _case(
        "signed-init-unsigned-ephemeral",
        {
            "containers": ["{registry}/glm-tts/server@{signed}"],
            "initContainers": ["{registry}/glm-tts/server@{signed}"],
            "ephemeralContainers": ["{registry}/glm-tts/server@{unsigned}"],
        },
        False,
        "signature",
        needs_signatures=True,
    ),
]

assert len({c["id"] for c in CASES}) == len(CASES), "case ids must be unique"


# --- builders: the Kubernetes objects and request bodies a case stands for ----------------------

CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")
OVERSIZED_BYTES = 4 * 1024 * 1024  # above the webhook's 3 MiB request limit


# The namespace label that opts a namespace into the chart's engines (admission.namespaceLabel).
OPT_IN_LABEL = "glm-tts.io/image-policy"


def judged_images(case: dict) -> list[str]:
    """The images an engine judges: all of a CREATE's; on UPDATE, those the old object did not run."""
    images = [image or "" for kind in CONTAINER_KINDS for image in case["images"].get(kind, [])]
    old = case.get("old_images")
    if old is None:
        return images
    before = {image or "" for kind in CONTAINER_KINDS for image in old.get(kind, [])}
    return [] if set(images) <= before else images


def fill(case: dict, **values: str) -> dict:
    """A copy of `case` with the {registry}/{signed}/{unsigned} placeholders in its images filled in."""
    images = {
        kind: [None if image is None else image.format(**values) for image in refs]
        for kind, refs in case["images"].items()
    }
    return {**case, "images": images}


def pod_spec(images: dict) -> dict:
    spec: dict = {}
    for kind in CONTAINER_KINDS:
        containers = []
        for i, image in enumerate(images.get(kind, [])):
            container = {"name": f"{kind[:-1].lower()}-{i}"}
            if image is not None:
                container["image"] = image
            containers.append(container)
        if containers:
            spec[kind] = containers
    spec.setdefault("containers", [])
    return spec


def workload_object(kind: str, images: dict, namespace: str, name: str = "glm-tts") -> dict:
    """A minimal object of `kind` whose pod (template) runs `images`."""
    template = {"metadata": {"labels": {"app": name}}, "spec": pod_spec(images)}
    meta = {"name": name, "namespace": namespace}
    group_version = {
        "Pod": "v1",
        "ReplicationController": "v1",
        "Job": "batch/v1",
        "CronJob": "batch/v1",
    }.get(kind, "apps/v1")
    obj: dict = {"apiVersion": group_version, "kind": kind, "metadata": meta}
    if kind == "Pod":
        obj["spec"] = template["spec"]
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        obj["spec"] = {"template": template}
    elif kind == "ReplicationController":  # a plain label map, not a LabelSelector
        obj["spec"] = {"selector": {"app": name}, "template": template}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    return obj


_RESOURCES = {
    "Pod": "pods",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
    "ReplicationController": "replicationcontrollers",
    "Job": "jobs",
    "CronJob": "cronjobs",
}


def admission_review(case: dict, uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002") -> dict:
    obj = workload_object(case["kind"], case["images"], case["namespace"])
    old = case.get("old_images")
    old_obj = None if old is None else workload_object(case["kind"], old, case["namespace"])
    group, _, version = obj["apiVersion"].rpartition("/")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": case["kind"]},
            "resource": {"group": group, "version": version, "resource": _RESOURCES[case["kind"]]},
            "requestKind": {"group": group, "version": version, "kind": case["kind"]},
            "name": obj["metadata"]["name"],
            "namespace": case["namespace"],
            "operation": case.get("operation", "CREATE"),
            "userInfo": {"username": "system:serviceaccount:glm-tts:deployer"},
            "object": obj,
            "oldObject": old_obj,
            "dryRun": False,
        },
    }


def image_review(case: dict) -> dict:
    images = [image for kind in CONTAINER_KINDS for image in case["images"].get(kind, [])]
    return {
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": {
            "containers": [{"image": image} for image in images],
            "annotations": {},
            "namespace": case["namespace"],
        },
    }


def request_body(case: dict) -> bytes:
    """The HTTP body for `case`, with its malformation (if any) applied."""
    import json

    review = admission_review(case) if case["api"] == "AdmissionReview" else image_review(case)
    broken = case.get("body")
    if broken == "not-json":
        return b'{"apiVersion": "admission.k8s.io/v1", "kind": '
    if broken == "oversized":
        return b'{"padding": "' + b"x" * OVERSIZED_BYTES + b'"}'
    if broken == "wrong-api-version":
        review["apiVersion"] = "admission.k8s.io/v1beta1" if case["api"] == "AdmissionReview" else "v1"
    elif broken == "wrong-kind":
        review["kind"] = "TokenReview"
    elif broken == "missing-request":
        del review["request"]
    elif broken == "missing-uid":
        del review["request"]["uid"]
    elif broken == "containers-not-a-list":
        review["request"]["object"]["spec"]["containers"] = {"name": "x", "image": "nginx"}
    elif broken == "missing-spec":
        del review["spec"]
    elif broken is not None:
        raise ValueError(f"unknown body malformation {broken!r}")
    return json.dumps(review).encode()
