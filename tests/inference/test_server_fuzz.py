"""Fuzz every operation from the service's own OpenAPI schema against a real server.

Whatever schemathesis sends, the server must never answer 5xx, must refuse schema-invalid
input, and every answer (status, content type, headers, body) must match what the schema
promises. Schema-valid input may still be refused with a 4xx that says why (an empty text is
a string, but nothing to speak), so "valid data is accepted" is not one of the checks.
"""

from __future__ import annotations

import json
import tempfile

import pytest
import schemathesis
from glm_tts_server.config import Settings
from glm_tts_server.server import create_app
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30  # per operation and mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _cases() -> list:
    """(method, path, mode) for every operation the app declares (built, never started).

    Negative cases exist only where there is input that can be wrong: a body or credentials
    (any string is a valid path parameter here).
    """
    with tempfile.TemporaryDirectory() as tmp:
        spec = create_app(Settings(data_dir=tmp, admin_token="x")).openapi()
    cases = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            modes = [GenerationMode.POSITIVE]
            if operation.get("requestBody") or operation.get("security"):
                modes.append(GenerationMode.NEGATIVE)
            cases += [
                pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode}")
                for mode in modes
            ]
    return cases


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    from conftest import _settings, run_in_thread

    # eSpeak NG, the real CPU engine; short texts keep each synthesis in milliseconds.
    running = run_in_thread(
        _settings(
            tmp_path_factory.mktemp("fuzz"),
            {"max_input_chars": 300, "max_upload_bytes": 256 * 1024, "admin_token": "fuzz-admin"},
        )
    )
    yield running
    running.stop()


@schemathesis.serializer("application/x-ndjson", "application/jsonl")
def _jsonl_serializer(_ctx, value) -> bytes:
    """The batch body is JSONL text: send what was generated for it as UTF-8 (or its JSON form)."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_operation_never_fails_and_matches_its_schema(api_schema, fuzz_server, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        case.call_and_validate(checks=CHECKS)

    fuzz()
    with fuzz_server.client() as client:  # whatever was sent, the server is still alive and ready
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz").json()["consecutive_failures"] == 0
