"""The two wire formats: AdmissionReview v1 (ValidatingWebhook) and ImageReview v1alpha1 (ImagePolicyWebhook).

Parsing is strict about what the API server always sends (apiVersion, kind, uid, container
lists) and answers BadRequest (HTTP 400) naming the field otherwise.
"""

from __future__ import annotations

from typing import Any

from glm_tts_hooks.image_policy.decision import (
    CONTAINER,
    EPHEMERAL_CONTAINER,
    INIT_CONTAINER,
    ContainerImage,
    Decider,
    Decision,
)

ADMISSION_API_VERSION = "admission.k8s.io/v1"
IMAGE_REVIEW_API_VERSION = "imagepolicy.k8s.io/v1alpha1"
AUDIT_ANNOTATION = "image-policy-violations"
MAX_WARNINGS = 20
MAX_WARNING_CHARS = 256  # the API server may truncate longer warnings

CONTAINER_FIELDS = (
    ("containers", CONTAINER),
    ("initContainers", INIT_CONTAINER),
    ("ephemeralContainers", EPHEMERAL_CONTAINER),
)

# (group, kind) → path from the object to its PodSpec.
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}


class BadRequest(ValueError):
    """The request is not a valid review; answered with HTTP 400 and this message."""


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object")
    return value


def pod_spec_containers(pod_spec: dict[str, Any], where: str) -> list[ContainerImage]:
    """Every container, init container and ephemeral container of a PodSpec."""
    found: list[ContainerImage] = []
    for field_name, kind in CONTAINER_FIELDS:
        entries = pod_spec.get(field_name)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise BadRequest(f"{where}.{field_name} must be a list")
        for i, entry in enumerate(entries):
            container = _mapping(entry, f"{where}.{field_name}[{i}]")
            name = container.get("name") if isinstance(container.get("name"), str) else f"{field_name}[{i}]"
            image = container.get("image", "")
            if not isinstance(image, str):
                raise BadRequest(f"{where}.{field_name}[{i}].image must be a string")
            found.append(ContainerImage(kind=kind, name=name, image=image))
    return found


def object_containers(group: str, kind: str, obj: dict[str, Any]) -> list[ContainerImage] | None:
    """Containers of a Pod or of a workload's pod template; None when the kind has no pods."""
    path = POD_SPEC_PATHS.get((group, kind))
    if path is None:
        return None
    node: Any = obj
    where = "request.object"
    for step in path:
        node = _mapping(node, where).get(step)
        where += f".{step}"
        if node is None:
            raise BadRequest(f"{where} is missing")
    return pod_spec_containers(_mapping(node, where), where)


def _introduces_no_image(
    request: dict[str, Any], group: str, kind: str, containers: list[ContainerImage]
) -> bool:
    """True for an UPDATE whose object runs no image its oldObject did not already run."""
    old = request.get("oldObject")
    if not isinstance(old, dict):
        return False  # the API server always sends oldObject on UPDATE; without it, judge in full
    try:
        before = object_containers(group, kind, old)
    except BadRequest:
        return False
    return before is not None and {c.image for c in containers} <= {c.image for c in before}


def _expect_type(doc: Any, api_version: str, kind: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadRequest(f"body must be a JSON object ({kind} {api_version})")
    if doc.get("apiVersion") != api_version or doc.get("kind") != kind:
        raise BadRequest(
            f"expected apiVersion {api_version} kind {kind}, got apiVersion "
            f"{doc.get('apiVersion')!r} kind {doc.get('kind')!r}"
        )
    return doc


def _truncate(text: str, limit: int = MAX_WARNING_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_admission(doc: Any, decider: Decider) -> tuple[dict[str, Any], Decision | None]:
    """Answer an AdmissionReview v1; the Decision is None for requests with nothing to check."""
    review = _expect_type(doc, ADMISSION_API_VERSION, "AdmissionReview")
    request = _mapping(review.get("request"), "request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("request.uid is missing: the response must echo it")
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    answer = {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}

    operation = request.get("operation")
    if operation in ("DELETE", "CONNECT"):
        return answer, None
    if operation not in ("CREATE", "UPDATE"):
        raise BadRequest(f"request.operation {operation!r} is not CREATE, UPDATE, DELETE or CONNECT")
    kind = _mapping(request.get("kind"), "request.kind")
    obj = _mapping(request.get("object"), "request.object")
    containers = object_containers(str(kind.get("group", "")), str(kind.get("kind", "")), obj)
    if containers is None:
        response["warnings"] = [
            f"image policy: {kind.get('kind')!r} objects carry no pods and are not checked"
        ]
        return answer, None
    if operation == "UPDATE" and _introduces_no_image(
        request, str(kind.get("group", "")), str(kind.get("kind", "")), containers
    ):
        # Scaling, relabelling or patching a workload that already runs must never be blocked by
        # images it was admitted with (or that predate the policy); only new images are judged.
        return answer, None
    namespace = request.get("namespace") or (obj.get("metadata") or {}).get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise BadRequest("request.namespace must be a string")

    decision = decider.decide(namespace, containers)
    response["allowed"] = decision.allowed
    warnings = [f.describe() for f in decision.findings] if decision.audit else []
    warnings += decision.notes
    if warnings:
        response["warnings"] = [_truncate(w) for w in warnings[:MAX_WARNINGS]]
    if decision.findings and decision.audit:
        response["auditAnnotations"] = {AUDIT_ANNOTATION: decision.message()}
    if not decision.allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": decision.message()}
    return answer, decision


def review_images(doc: Any, decider: Decider) -> tuple[dict[str, Any], Decision]:
    """Answer an ImageReview v1alpha1 (kube-apiserver ImagePolicyWebhook admission plugin)."""
    review = _expect_type(doc, IMAGE_REVIEW_API_VERSION, "ImageReview")
    spec = _mapping(review.get("spec"), "spec")
    entries = spec.get("containers", [])  # omitempty in the Go type
    if not isinstance(entries, list):
        raise BadRequest("spec.containers must be a list")
    containers = []
    for i, entry in enumerate(entries):
        image = _mapping(entry, f"spec.containers[{i}]").get("image", "")
        if not isinstance(image, str):
            raise BadRequest(f"spec.containers[{i}].image must be a string")
        # ImageReview lists init and ephemeral containers among `containers`, unnamed.
        containers.append(ContainerImage(kind=CONTAINER, name=f"containers[{i}]", image=image))
    namespace = spec.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise BadRequest("spec.namespace must be a string")

    decision = decider.decide(namespace, containers)
    status: dict[str, Any] = {"allowed": decision.allowed}
    reasons = ([decision.message()] if decision.findings else []) + decision.notes
    if reasons:
        status["reason"] = "; ".join(reasons)
    if decision.findings and decision.audit:
        status["auditAnnotations"] = {AUDIT_ANNOTATION: decision.message()}
    return {"apiVersion": IMAGE_REVIEW_API_VERSION, "kind": "ImageReview", "status": status}, decision
