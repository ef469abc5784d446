"""The CRD validator rejects what the API server rejects and accepts what it accepts."""

from __future__ import annotations

import copy

import pytest
from harness.crd_schema import CrdCatalog, CrdSchemaError
from harness.paths import shared_path

SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "m", "namespace": "n"},
    "spec": {
        "selector": {"matchLabels": {"app": "x"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    },
}


@pytest.fixture(scope="module")
def crds():
    return CrdCatalog(shared_path("crds"))


def test_a_valid_object_passes(crds):
    crds.validate(SERVICE_MONITOR)


def test_unknown_field_is_rejected_with_its_path(crds):
    bad = copy.deepcopy(SERVICE_MONITOR)
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(CrdSchemaError, match=r"spec\.endpoints\.0.*intervall"):
        crds.validate(bad)


def test_wrong_type_and_enum_are_rejected(crds):
    bad = copy.deepcopy(SERVICE_MONITOR)
    bad["spec"]["endpoints"][0]["scheme"] = "gopher"
    with pytest.raises(CrdSchemaError, match="scheme"):
        crds.validate(bad)


def test_int_or_string_accepts_both(crds):
    for port in (8080, "http"):
        ok = copy.deepcopy(SERVICE_MONITOR)
        ok["spec"]["endpoints"][0]["targetPort"] = port
        crds.validate(ok)


def test_preserve_unknown_fields_is_honoured(crds):
    policy = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "rules": [
                {
                    "name": "r",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "validate": {"message": "m", "pattern": {"spec": {"anything": "goes"}}},
                }
            ]
        },
    }
    crds.validate(policy)
    policy["spec"]["rules"][0]["validate"]["patern"] = {}
    with pytest.raises(CrdSchemaError, match="patern"):
        crds.validate(policy)


def test_unknown_kind_or_version_fails(crds):
    with pytest.raises(CrdSchemaError, match="no CRD"):
        crds.validate({**SERVICE_MONITOR, "apiVersion": "monitoring.coreos.com/v2"})
