"""The operator page, every control exercised in Chromium: speak, clone (upload and microphone),
delete, batch with progress and downloads, status, GPU controls, keyboard, screen reader names,
phone width. Any console error or failed request fails the test (see conftest.open_page)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from harness.tts_backends import ToneBackend
from playwright.sync_api import expect

from browser.conftest import start_server
from browser.tone import speechlike_wav

CONSENT = "Alice Example agreed in writing on 2026-05-04 to have her voice cloned for these tests."
TIMEOUT_MS = 30_000


def wait_text(page, element_id: str, pattern: str) -> None:
    """Wait until the element's text matches the regular expression.

    Through Playwright's locator assertions, not `wait_for_function`: that evaluates a string in
    the page, which the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    expect(page.locator(f"#{element_id}")).to_have_text(re.compile(pattern), timeout=TIMEOUT_MS)


def duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def audit_lines(server) -> list[dict]:
    path = server.settings.audit_log_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def espeak(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("page"))
    yield server
    server.stop()


def test_status_shows_backend_model_readiness_and_queue_without_gpu_controls(espeak, open_page):
    page = open_page(espeak.url).page
    wait_text(page, "info-backend", "^espeak$")
    assert page.text_content("#info-model") == "espeak"
    assert page.text_content("#info-ready") == "ready"
    assert re.fullmatch(r"0 waiting, 0 running \(room for \d+\)", page.text_content("#info-queue"))
    assert page.is_hidden("#gpu"), "the GPU controls show on a CPU backend"
    favicon = page.request.get(f"{espeak.url}/favicon.ico")
    assert favicon.ok and favicon.headers["content-type"] == "image/svg+xml"


def test_speak_plays_and_downloads_the_chosen_format(espeak, open_page):
    page = open_page(espeak.url).page
    page.fill("#text", "Hello from the browser test. A second sentence.")
    page.select_option("#format", "mp3")
    page.fill("#speed", "1.5")
    page.check("#phoneme")
    page.uncheck("#phoneme")
    page.click("#speak")
    wait_text(page, "speak-status", r"s of audio in")
    assert page.get_attribute("#player", "src").startswith("blob:")
    with page.expect_download() as caught:
        page.click("#download-speech")
    download = caught.value
    assert download.suggested_filename == "speech.mp3"
    assert duration(Path(download.path()).read_bytes()) > 1.0


def test_clone_from_an_uploaded_clip_then_speak_with_it_and_delete_it(espeak, open_page, tmp_path):
    watched = open_page(espeak.url)
    page = watched.page
    clip = tmp_path / "alice.flac"  # not WAV: the page converts what the browser can play
    clip.write_bytes(speechlike_wav(seconds=4.0, fmt="FLAC"))
    page.set_input_files("#clip", str(clip))
    wait_text(page, "clone-status", r"clip: 4.0 s")
    assert page.is_visible("#clip-player")
    page.fill("#clip-transcript", "Hello, this is Alice speaking clearly.")
    page.fill("#voice-name", "alice")
    page.fill("#consent", CONSENT)
    page.click("#clone")
    wait_text(page, "clone-status", r"voice alice registered")
    assert page.input_value("#voice") == "alice"
    assert page.text_content("#voices tbody tr td:nth-child(1)") == "alice"
    page.click("#speak")
    wait_text(page, "speak-status", r"s of audio in")
    used = [line for line in audit_lines(espeak) if line["event"] == "synthesis"]
    assert used and used[-1]["voice"] == "alice"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete voice alice").click()
    wait_text(page, "clone-status", r"deleted alice")
    assert page.get_by_role("button", name="Delete voice alice").count() == 0
    assert not (espeak.settings.data_dir / "voices" / "alice.wav").exists()


def test_clone_from_the_microphone(espeak, open_page):
    page = open_page(espeak.url).page
    page.click("#record")
    page.wait_for_selector("#record[aria-pressed=true]")  # the microphone is open
    page.wait_for_timeout(4500)
    page.click("#record")
    wait_text(page, "clone-status", r"clip: \d")
    seconds = float(re.search(r"clip: ([\d.]+) s", page.text_content("#clone-status")).group(1))
    assert 3.5 < seconds < 8
    page.fill("#clip-transcript", "What the microphone heard.")
    page.fill("#voice-name", "mic-voice")
    page.fill("#consent", CONSENT)
    page.click("#clone")
    wait_text(page, "clone-status", r"voice mic-voice registered")


def test_clone_without_consent_says_what_is_missing_and_registers_nothing(espeak, open_page, tmp_path):
    watched = open_page(espeak.url)
    watched.allow("422")
    page = watched.page
    clip = tmp_path / "bob.wav"
    clip.write_bytes(speechlike_wav(seconds=4.0))
    page.set_input_files("#clip", str(clip))
    wait_text(page, "clone-status", r"clip:")
    page.fill("#clip-transcript", "Bob speaking.")
    page.fill("#voice-name", "bob")
    page.click("#clone")
    wait_text(page, "clone-status", r"consent is missing")
    assert "error" in page.get_attribute("#clone-status", "class")
    assert not (espeak.settings.data_dir / "voices" / "bob.json").exists()


def test_batch_shows_progress_and_downloads_results(espeak, open_page):
    watched = open_page(espeak.url)
    page = watched.page
    lines = [
        {"uttid": "first", "syn_text": "The first line of the batch."},
        {"uttid": "second", "syn_text": "<zh>第二行</zh>, the second line."},
        {"uttid": "broken", "syn_text": ""},
    ]
    page.fill("#batch-text", "\n".join(json.dumps(line, ensure_ascii=False) for line in lines))
    page.click("#batch-run")
    wait_text(page, "batch-status", r"succeeded")
    assert page.text_content("#batch-count") == "3 of 3"
    assert page.eval_on_selector("#batch-progress", "p => p.value === p.max")
    assert "2 succeeded, 1 failed" in page.text_content("#batch-status")
    assert "broken" in page.text_content("#batch-results li.error")
    with page.expect_download() as caught:
        page.get_by_role("button", name=re.compile(r"Download first\.wav")).click()
    assert caught.value.suggested_filename == "first.wav"
    assert duration(Path(caught.value.path()).read_bytes()) > 0.5
    with page.expect_download() as caught:
        page.click("#batch-manifest")
    report = json.loads(Path(caught.value.path()).read_text(encoding="utf-8"))
    assert (report["succeeded"], report["failed"]) == (2, 1)


class GPUToneBackend(ToneBackend):
    """A tone backend that reports accelerator memory, as the glmtts backend does on a GPU."""

    def memory_stats(self):
        return {"allocated": 3 << 30, "reserved": 4 << 30, "total": 80 << 30}

    def empty_cache(self):
        return 1 << 30


def test_gpu_controls_appear_on_a_gpu_backend_and_empty_the_cache(serve, open_page):
    server = serve(backend=GPUToneBackend(), admin_token="adm1n")
    watched = open_page(server.url)
    watched.allow("401")
    page = watched.page
    page.wait_for_selector("#gpu", state="visible")
    page.click("#empty-cache")
    wait_text(page, "admin-status", r"missing admin token")
    page.fill("#admin-token", "adm1n")
    page.click("#empty-cache")
    wait_text(page, "admin-status", r"freed 1024.0 MiB")


def test_api_key_field_unlocks_a_protected_server(serve, open_page):
    server = serve(backend=ToneBackend(), api_key="k3y")
    watched = open_page(server.url)
    watched.allow("401")
    page = watched.page
    wait_text(page, "info-ready", r"missing API key")
    page.fill("#api-key", "k3y")
    page.press("#api-key", "Tab")  # change fires on leaving the field
    wait_text(page, "info-backend", "^tone$")
    page.click("#speak")
    wait_text(page, "speak-status", r"s of audio in")


def test_every_control_has_an_accessible_name_and_keyboard_reaches_speak(espeak, open_page):
    page = open_page(espeak.url).page
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => !e.closest('[hidden]'))
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map(e => e.id || e.outerHTML)""")
    assert unnamed == []
    assert page.get_by_role("status").count() >= 4  # results are announced to screen readers
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(12):  # from the skip link, Tab through the speech form to its button
        if page.evaluate("document.activeElement.id") == "speak":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "speak"
    page.keyboard.press("Enter")
    wait_text(page, "speak-status", r"s of audio in")


def test_phone_width_has_no_horizontal_scrolling(espeak, open_page):
    watched = open_page(espeak.url, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = watched.page
    wait_text(page, "info-backend", "^espeak$")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    box = page.locator("#speak").bounding_box()
    assert box["height"] >= 40  # big enough to tap
    assert np.isfinite(box["width"])
