"""`glm-tts-hooks fetch-weights` with the real huggingface_hub client against a loopback Hub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from glm_tts_hooks.weights import command
from glm_tts_hooks.weights.marker import MARKER_NAME

from hooks.cli_runner import check, run_command
from hooks.fake_hub import COMMIT, FakeHub, HubFile, serving

REPO = "zai-org/GLM-TTS"
BIG = bytes(range(256)) * 4096  # 1 MiB, an LFS file the transfer can break in


def checkpoint_files() -> dict[str, HubFile]:
    """The layout the glmtts backend loads, with small stand-in contents."""
    return {
        "llm/config.json": HubFile(b'{"hidden_size": 2048}'),
        "llm/model.safetensors": HubFile(BIG, lfs=True),
        "flow/flow.pt": HubFile(b"flow" * 1000, lfs=True),
        "flow/config.yaml": HubFile(b"sample_rate: 24000\n"),
        "hift/hift.pt": HubFile(b"hift" * 1000, lfs=True),
        "speech_tokenizer/config.json": HubFile(b"{}"),
        "vq32k-phoneme-tokenizer/tokenizer.json": HubFile(b'{"model": "bpe"}'),
        "README.md": HubFile(b"# GLM-TTS\n"),
    }


@pytest.fixture(autouse=True)
def hub_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Nothing from the machine's own Hugging Face setup, and a read-only home as in the pod.
    for name in ("HF_HOME", "HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "GLMTTS_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")


def fetch(hub: FakeHub, model_dir: Path, *extra: str) -> tuple[int, dict]:
    return run_command(
        command, ["fetch-weights", "--model-dir", str(model_dir), "--endpoint", hub.url, *extra]
    )


def file_requests(hub: FakeHub) -> list[tuple[str, str, str | None]]:
    return [r for r in hub.requests if "/resolve/" in r[1] and r[0] == "GET"]


def test_download_lands_under_ckpt_with_a_marker_and_the_second_run_stays_offline(tmp_path: Path) -> None:
    files = checkpoint_files()
    with serving(FakeHub(REPO, files)) as hub:
        rc, report = fetch(hub, tmp_path)
        assert rc == 0, report
        for name, f in files.items():
            assert (tmp_path / "ckpt" / name).read_bytes() == f.content
        marker = json.loads((tmp_path / "ckpt" / MARKER_NAME).read_text())
        assert marker["commit"] == COMMIT and marker["revision"] == "main"
        assert marker["files"]["llm/model.safetensors"] == {
            "size": len(BIG),
            "checksum": f"sha256:{files['llm/model.safetensors'].sha256}",
        }
        assert marker["files"]["README.md"]["checksum"] == f"git-sha1:{files['README.md'].git_sha1}"
        assert check(report, "checksums")["status"] == "pass"
        # The Hugging Face home is on the volume, not the (here absent, in a pod read-only) $HOME.
        assert os.environ["HF_HOME"] == str(tmp_path / ".cache" / "huggingface")

        seen = len(hub.requests)
        rc, report = fetch(hub, tmp_path)
        assert rc == 0 and check(report, "marker")["status"] == "pass"
        assert "nothing downloaded" in check(report, "marker")["detail"]
        assert len(hub.requests) == seen  # no request at all: a pod restart needs no network


def test_a_broken_transfer_resumes_where_it_stopped(tmp_path: Path) -> None:
    # The client writes in 10 MiB chunks: a break after 16 MiB leaves one chunk on disk to resume from.
    files = checkpoint_files()
    files["llm/model.safetensors"] = HubFile(BIG * 24, lfs=True)
    with serving(FakeHub(REPO, files, cuts={"llm/model.safetensors": [16 << 20]})) as hub:
        rc, report = fetch(hub, tmp_path)
        assert rc == 0, report
        big = [r for r in file_requests(hub) if r[1].endswith("llm/model.safetensors")]
    assert len(big) == 2 and big[0][2] is None
    assert big[1][2] == f"bytes={10 << 20}-"  # resumed after what it had, not restarted
    assert (tmp_path / "ckpt" / "llm/model.safetensors").read_bytes() == BIG * 24


def test_a_download_cut_short_leaves_no_half_file_and_the_next_start_finishes(tmp_path: Path) -> None:
    """The client gives up (network down): no marker, no truncated checkpoint in place, and the next
    run (the restarted init container) fetches what is missing. huggingface_hub 2.x resumes a broken
    transfer inside one run (test above) but drops its partial file when it gives up, so across runs
    the unit of resumption is the file."""
    files = checkpoint_files()
    files["llm/model.safetensors"] = HubFile(BIG * 24, lfs=True)
    # 10 MiB land, then six answers too short to add a chunk: the client's retries run out.
    cuts = [16 << 20] + [1 << 20] * 6
    with serving(FakeHub(REPO, files, cuts={"llm/model.safetensors": cuts})) as hub:
        rc, report = fetch(hub, tmp_path, "--max-workers", "1")
        assert rc == 2 and "cannot download" in report["error"], report
        ckpt = tmp_path / "ckpt"
        assert not (ckpt / MARKER_NAME).exists() and not (ckpt / "llm/model.safetensors").exists()
        assert not list(ckpt.rglob("*.incomplete"))
        kept = {
            p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*") if p.is_file() and ".cache" not in p.parts
        }
        hub.requests.clear()
        rc, report = fetch(hub, tmp_path)
        assert rc == 0, report
        fetched = {r[1].split(f"/resolve/{COMMIT}/")[1] for r in file_requests(hub)}
    assert kept and "llm/model.safetensors" in fetched and not fetched & kept
    assert (ckpt / "llm/model.safetensors").read_bytes() == BIG * 24


def test_content_that_does_not_match_the_checksum_fails_and_is_removed(tmp_path: Path) -> None:
    files = checkpoint_files()
    with serving(FakeHub(REPO, files, corrupt={"flow/flow.pt": b"FLOW" * 1000})) as hub:
        rc, report = fetch(hub, tmp_path)
    assert rc == 1
    row = check(report, "checksums")
    assert row["status"] == "fail" and "flow/flow.pt" in row["detail"]
    assert not (tmp_path / "ckpt" / "flow/flow.pt").exists()
    assert not (tmp_path / "ckpt" / MARKER_NAME).exists()  # never marked complete


def test_a_repo_without_the_backend_checkpoints_is_refused(tmp_path: Path) -> None:
    files = {"README.md": HubFile(b"not a model\n")}
    with serving(FakeHub(REPO, files)) as hub:
        rc, report = fetch(hub, tmp_path)
    assert rc == 1
    row = check(report, "layout")
    assert row["status"] == "fail" and "flow/flow.pt" in row["detail"] and "--repo-id" in row["fix"]
    assert not (tmp_path / "ckpt" / MARKER_NAME).exists()


def test_a_partial_volume_downloads_only_what_is_missing(tmp_path: Path) -> None:
    with serving(FakeHub(REPO, checkpoint_files())) as hub:
        assert fetch(hub, tmp_path)[0] == 0
        (tmp_path / "ckpt" / "hift/hift.pt").unlink()
        hub.requests.clear()
        rc, report = fetch(hub, tmp_path)
        assert rc == 0, report
        assert [r[1].rsplit("/", 2)[-2:] for r in file_requests(hub)] == [["hift", "hift.pt"]]


def test_another_revision_downloads_again(tmp_path: Path) -> None:
    with serving(FakeHub(REPO, checkpoint_files())) as hub:
        assert fetch(hub, tmp_path)[0] == 0
        rc, report = fetch(hub, tmp_path, "--revision", COMMIT)
        assert rc == 0
        assert "downloading" in check(report, "marker")["detail"]
        assert json.loads((tmp_path / "ckpt" / MARKER_NAME).read_text())["revision"] == COMMIT


def test_verify_checksums_catches_a_file_changed_on_the_volume(tmp_path: Path) -> None:
    with serving(FakeHub(REPO, checkpoint_files())) as hub:
        assert fetch(hub, tmp_path)[0] == 0
    target = tmp_path / "ckpt" / "flow/config.yaml"
    target.write_bytes(b"sample_rate: 32000\n")  # same size: only a checksum sees it
    rc, report = run_command(command, ["fetch-weights", "--model-dir", str(tmp_path), "--verify-checksums"])
    assert rc == 1 and "flow/config.yaml" in check(report, "checksums")["detail"]
    assert not target.exists()


def test_a_token_is_sent_from_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("hf_secret\n")
    with serving(FakeHub(REPO, checkpoint_files(), require_token="hf_secret")) as hub:
        rc, report = fetch(hub, tmp_path / "models")
        assert rc == 2 and "token" in report["error"]
        rc, report = fetch(hub, tmp_path / "models", "--token-file", str(token_file))
        assert rc == 0, report


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--revision", "v9"], "revision 'v9' not found"),
        (["--repo-id", "someone/absent"], "repository not found"),
    ],
)
def test_hub_errors_are_one_clear_line(tmp_path: Path, extra: list[str], message: str) -> None:
    with serving(FakeHub(REPO, checkpoint_files())) as hub:
        rc, report = fetch(hub, tmp_path, *extra)
    assert rc == 2 and message in report["error"]


def test_an_unreachable_endpoint_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    rc, report = run_command(
        command,
        [
            "fetch-weights",
            "--model-dir",
            str(tmp_path),
            "--endpoint",
            "http://127.0.0.1:9",
            "--max-workers",
            "1",
        ],
    )
    assert rc == 2 and "cannot download" in report["error"]


def test_model_dir_comes_from_the_environment_and_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glm_tts_hooks.cli import main

    assert main(["fetch-weights", "--model-dir", ""]) == 2  # empty = not given, and nothing to fall back on
    monkeypatch.setenv("GLMTTS_MODEL_DIR", str(tmp_path))
    with serving(FakeHub(REPO, checkpoint_files())) as hub:
        assert main(["fetch-weights", "--endpoint", hub.url, "--output", "json"]) == 0
    assert (tmp_path / "ckpt" / MARKER_NAME).is_file()
    assert os.environ["HF_HOME"].startswith(str(tmp_path))
