"""Bearer API key on /v1/*, admin token on /admin/*; probes, metrics and the page stay open."""

from __future__ import annotations

import base64

import pytest
from conftest import error_message
from glm_tts_server.constants import (
    BATCH_PATH,
    EMPTY_CACHE_PATH,
    HEALTHZ_PATH,
    METRICS_PATH,
    READYZ_PATH,
    SPEECH_PATH,
    TTS_PATH,
    VOICES_PATH,
)

API_KEY = "k3y-for-tests"
ADMIN = "admin-for-tests"


def basic(user_and_password: str) -> str:
    return "Basic " + base64.b64encode(user_and_password.encode()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import _settings, run_in_thread

    running = run_in_thread(
        _settings(tmp_path_factory.mktemp("auth"), {"api_key": API_KEY, "admin_token": ADMIN})
    )
    yield running
    running.stop()


API_CALLS = [
    ("POST", TTS_PATH, {"json": {"text": "Hello."}}),
    ("POST", SPEECH_PATH, {"json": {"input": "Hello."}}),
    ("GET", VOICES_PATH, {}),
    ("DELETE", f"{VOICES_PATH}/someone", {}),
    ("POST", BATCH_PATH, {"content": b'{"uttid": "a", "syn_text": "hi"}'}),
    ("GET", f"{BATCH_PATH}/0123456789abcdef0123456789abcdef", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), API_CALLS, ids=[f"{m} {p}" for m, p, _ in API_CALLS])
@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing API key"),
        ("Bearer wrong-key", "wrong API key"),
        (f"Basic {API_KEY}", "missing API key"),  # not base64
        (basic(API_KEY), "missing API key"),  # no password part
        (basic("alice@example.com:wrong"), "wrong API key"),
        (f"Bearer {ADMIN}", "wrong API key"),  # the admin token is not an API key
    ],
)
def test_api_needs_the_key(server, method, path, kwargs, header, words):
    headers = {"Authorization": header} if header else {}
    with server.client() as client:
        response = client.request(method, path, headers=headers, **kwargs)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert words in error_message(response)


@pytest.mark.parametrize(
    "header",
    [f"Bearer {API_KEY}", basic(f"alice@example.com:{API_KEY}")],
    ids=["bearer", "basic from the oauth2-proxy sidecar"],
)
def test_api_works_with_the_key(server, header):
    with server.client(headers={"Authorization": header}) as client:
        assert client.post(TTS_PATH, json={"text": "Hello."}).status_code == 200
        assert client.get(VOICES_PATH).status_code == 200


@pytest.mark.parametrize("path", [HEALTHZ_PATH, READYZ_PATH, METRICS_PATH, "/"])
def test_probes_metrics_and_page_stay_open(server, path):
    with server.client() as client:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing admin token"),
        ("Bearer nope", "wrong admin token"),
        (f"Bearer {API_KEY}", "wrong admin token"),  # an API key is not an admin token
    ],
)
def test_admin_needs_the_admin_token(server, header, words):
    headers = {"Authorization": header} if header else {}
    with server.client() as client:
        response = client.post(EMPTY_CACHE_PATH, headers=headers)
    assert response.status_code == 401
    assert words in error_message(response)


def test_admin_works_with_the_token(server):
    with server.client() as client:
        response = client.post(EMPTY_CACHE_PATH, headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200
    assert response.json()["freed_bytes"] == 0


def test_admin_is_disabled_without_a_token(start_server):
    server = start_server()
    with server.client() as client:
        response = client.post(EMPTY_CACHE_PATH, headers={"Authorization": "Bearer anything"})
        open_api = client.post(TTS_PATH, json={"text": "No key needed here."})
    assert response.status_code == 403
    assert "set GLMTTS_ADMIN_TOKEN" in error_message(response)
    assert open_api.status_code == 200
