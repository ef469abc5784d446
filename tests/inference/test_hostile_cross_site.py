"""Cross-site requests: with no API key (the default) a web page the operator visits must not be
able to change anything here. Browsers send Origin (and Sec-Fetch-Site) on every cross-site
POST/DELETE, including the CORS "simple" ones (form posts, multipart, text/plain) that need
no preflight; curl, the OpenAI client and the hooks send neither.
"""

from __future__ import annotations

import pytest
from conftest import CONSENT, tone_wav
from harness.tts_backends import ToneBackend
from hostile import error_text

VOICE_FORM = {
    "data": {"name": "calm", "transcript": "hello there", "consent": CONSENT},
    "files": {"audio": ("v.wav", tone_wav(), "audio/wav")},
}
BATCH_LINE = b'{"uttid": "a", "syn_text": "hello", "prompt_text": "hi", "prompt_speech": "voices/x.wav"}\n'


@pytest.fixture
def server(start_server):
    return start_server(backend=ToneBackend())


def _host(server) -> str:
    return server.url.removeprefix("http://")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # sandboxed frames and file:// pages
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain is another origin
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_state_changes_are_refused(server, headers: dict[str, str]) -> None:
    with server.client() as client:
        attempts = [
            client.post("/v1/voices", headers=headers, **VOICE_FORM),
            client.post("/v1/batch", content=BATCH_LINE, headers={**headers, "Content-Type": "text/plain"}),
            client.post("/v1/tts", json={"text": "hello"}, headers=headers),
            client.delete("/v1/voices/calm", headers=headers),
            client.post("/admin/empty-cache", headers=headers),
        ]
        for answer in attempts:
            assert answer.status_code == 403, (answer.request.url, answer.text)
            assert "cross-site request refused" in error_text(answer)
        assert client.get("/v1/voices").json() == {"voices": []}


def test_the_page_and_non_browser_clients_are_served(server) -> None:
    with server.client() as client:
        same_origin = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        assert client.post("/v1/voices", headers=same_origin, **VOICE_FORM).status_code == 201
        assert (
            client.post(
                "/v1/tts", json={"text": "hello", "voice": "calm"}, headers={"Origin": server.url}
            ).status_code
            == 200
        )
        assert (
            client.post("/v1/tts", json={"text": "hello"}, headers={"Sec-Fetch-Site": "none"}).status_code
            == 200
        )
        assert client.post("/v1/tts", json={"text": "hello"}).status_code == 200  # curl, SDKs
        # Reading is not a state change: a cross-site GET gets its answer (CORS keeps it from the page).
        assert client.get("/v1/voices", headers={"Origin": "https://evil.example"}).status_code == 200
    assert _host(server) in server.url
