"""Evaluate a rendered ValidatingAdmissionPolicy + Binding as the API server does, with real CEL libraries.

Three independent CEL implementations from PyPI run the same expressions: `cel-python` (pure Python,
`re` regexes), `common-expression-language` (Rust `cel` crate, `regex` crate) and `cel-expr-python`
(Google's cel-cpp with RE2, the regex syntax of the API server's cel-go). The tests assert that each
agrees with the webhook; the Rust and RE2 ones also reject regex syntax Go's regexp would not accept.

What this module does itself is the API server's plumbing around CEL (documented in the
ValidatingAdmissionPolicy reference): match the request's resource against matchConstraints, the
namespace against the binding's namespaceSelector, bind object/oldObject/request/namespaceObject/params,
evaluate `variables` in order (each may use the earlier ones), then `validations` in order; the first
failing validation is the one the API server reports; validationActions [Deny] denies, [Warn, Audit] admits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel as rust_cel
import celpy
from cel_expr_python import cel as cel_cpp

ENGINES = ("cel-python", "rust-cel", "cel-cpp")


class CelError(RuntimeError):
    """An expression did not evaluate (the API server applies failurePolicy to this)."""


class _CelPython:
    def __init__(self) -> None:
        self._env = celpy.Environment()
        self._programs: dict[str, Any] = {}

    def evaluate(self, expression: str, activation: Mapping[str, Any]) -> Any:
        program = self._programs.get(expression)
        if program is None:
            program = self._programs[expression] = self._env.program(self._env.compile(expression))
        bound = {
            name: value if name == "variables" else celpy.json_to_cel(value)
            for name, value in activation.items()
        }
        # Earlier variables are already CEL values: bind them as a CEL map.
        if "variables" in bound:
            bound["variables"] = celpy.celtypes.MapType(
                {celpy.celtypes.StringType(k): v for k, v in bound["variables"].items()}
            )
        try:
            result = program.evaluate(bound)
        except celpy.CELEvalError as exc:
            raise CelError(f"{expression!r}: {exc}") from None
        if isinstance(result, celpy.CELEvalError):
            raise CelError(f"{expression!r}: {result}")
        return result


class _RustCel:
    def __init__(self) -> None:
        self._programs: dict[str, Any] = {}

    def evaluate(self, expression: str, activation: Mapping[str, Any]) -> Any:
        program = self._programs.get(expression)
        if program is None:
            program = self._programs[expression] = rust_cel.compile(expression)
        try:
            return program.execute(dict(activation))
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise CelError(f"{expression!r}: {exc}") from None


# Every name the API server binds, as dyn (it compiles VAP expressions against dyn-typed objects).
_BOUND_NAMES = ("object", "oldObject", "request", "namespaceObject", "params", "authorizer")
_CPP_ENV = cel_cpp.NewEnv(
    variables={name: cel_cpp.Type.DYN for name in _BOUND_NAMES}
    | {"variables": cel_cpp.Type.Map(cel_cpp.Type.STRING, cel_cpp.Type.DYN)}
)


class _CelCpp:
    def __init__(self) -> None:
        self._programs: dict[str, Any] = {}

    def evaluate(self, expression: str, activation: Mapping[str, Any]) -> Any:
        program = self._programs.get(expression)
        if program is None:
            try:
                program = self._programs[expression] = _CPP_ENV.compile(expression)
            except Exception as exc:  # the binding raises plain Exceptions for compile errors
                raise CelError(f"{expression!r} does not compile: {exc}") from None
        try:
            value = program.eval(data=dict(activation)).plain_value()
        except Exception as exc:
            raise CelError(f"{expression!r}: {exc}") from None
        if isinstance(value, Exception):
            raise CelError(f"{expression!r}: {value}")
        return value


def make_engine(name: str) -> _CelPython | _RustCel | _CelCpp:
    return {"cel-python": _CelPython, "rust-cel": _RustCel, "cel-cpp": _CelCpp}[name]()


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics (matchLabels AND matchExpressions; an empty selector matches all)."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def rule_matches(rules: list[dict[str, Any]], resource: Mapping[str, str], operation: str) -> bool:
    """Does a request for `resource` ({group, version, resource}) match one of the resourceRules?"""
    for rule in rules:
        if (
            resource["group"] in rule["apiGroups"]
            and resource["version"] in rule["apiVersions"]
            and resource["resource"] in rule["resources"]
            and operation in rule["operations"]
        ):
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str | None  # the rule of the first failing validation ("[rule x]" in its message)
    message: str | None = None  # its messageExpression, evaluated


def _rule_of(message: str) -> str:
    marker = "[rule "
    start = message.rindex(marker) + len(marker)
    return message[start : message.index("]", start)]


class PolicyEvaluator:
    """One rendered ValidatingAdmissionPolicy and its Binding, evaluated with one CEL engine."""

    def __init__(self, policy: dict[str, Any], binding: dict[str, Any], engine: str) -> None:
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        self.policy = policy
        self.binding = binding
        self.cel = make_engine(engine)

    def review(self, request: dict[str, Any], namespace_labels: Mapping[str, str]) -> Verdict:
        spec = self.policy["spec"]
        constraints = spec["matchConstraints"]
        if not rule_matches(constraints["resourceRules"], request["resource"], request["operation"]):
            return Verdict(True, None)
        if not selector_matches(
            self.binding["spec"].get("matchResources", {}).get("namespaceSelector"),
            namespace_labels,
        ):
            return Verdict(True, None)
        object_selector = self.binding["spec"].get("matchResources", {}).get("objectSelector")
        labels = ((request.get("object") or {}).get("metadata") or {}).get("labels") or {}
        if not selector_matches(object_selector, labels):
            return Verdict(True, None)
        activation: dict[str, Any] = {
            "object": request.get("object"),
            "oldObject": request.get("oldObject"),
            "request": request,
            "namespaceObject": {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": request["namespace"], "labels": dict(namespace_labels)},
            },
            "params": None,
        }
        for condition in spec.get("matchConditions") or []:
            matched = self.cel.evaluate(condition["expression"], activation)
            if matched not in (True, False):  # cel-python answers its own BoolType: compare by value
                raise CelError(f"matchCondition {condition['name']!r} returned {matched!r}, not a bool")
            if not matched:
                return Verdict(True, None)
        variables: dict[str, Any] = {}
        for variable in spec.get("variables") or []:
            variables[variable["name"]] = self.cel.evaluate(
                variable["expression"], {**activation, "variables": variables}
            )
        activation["variables"] = variables
        actions = self.binding["spec"]["validationActions"]
        for validation in spec["validations"]:
            result = self.cel.evaluate(validation["expression"], activation)
            if result not in (True, False):
                raise CelError(f"{validation['expression']!r} returned {result!r}, not a bool")
            if not result:
                message = validation.get("message")
                if "messageExpression" in validation:
                    # The API server falls back to `message` when this fails; here a failure is a bug.
                    message = self.cel.evaluate(validation["messageExpression"], activation)
                    if not isinstance(message, str):
                        raise CelError(f"messageExpression returned {message!r}, not a string")
                return Verdict("Deny" not in actions, _rule_of(validation["message"]), str(message))
        return Verdict(True, None)
