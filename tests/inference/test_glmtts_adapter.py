"""Contract test of the glmtts adapter against a stand-in with upstream's module names and signatures.

The stand-in (`standin_glmtts/glmtts_inference.py`) reads `ckpt/...` and `frontend/...` relative
to the working directory like upstream does, asserts the tensor shapes and dtypes upstream
expects, and produces deterministic audio, so the calling convention is checked for real.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch", reason="the glmtts adapter contract test needs torch (requirements-test.txt)")

from glm_tts_server.audio import encode, rms
from glm_tts_server.backends import BackendUnavailable, create_backend
from glm_tts_server.backends.base import Segment, SynthesisOptions, Voice
from glm_tts_server.backends.glmtts import GlmTtsBackend
from glm_tts_server.config import load_settings
from glm_tts_server.synthesis import Synthesizer, build_synthesizer

STANDIN = Path(__file__).parent / "standin_glmtts"
CKPT_FILES = ("llm/config.json", "flow/flow.pt", "flow/config.yaml", "hift/hift.pt")
CKPT_DIRS = ("speech_tokenizer", "vq32k-phoneme-tokenizer")


def _prompt_wav(path: Path, seconds: float = 4.0, rate: int = 24000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    speechy = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speechy.astype(np.float32), rate)


def make_code_dir(root: Path) -> Path:
    code = root / "GLM-TTS"
    code.mkdir(parents=True)
    shutil.copy(STANDIN / "glmtts_inference.py", code / "glmtts_inference.py")
    (code / "frontend").mkdir()
    (code / "frontend" / "campplus.onnx").write_bytes(b"stand-in")
    (code / "configs").mkdir()
    (code / "configs" / "G2P_replace_dict.jsonl").write_text('{"弦": "<|X|><|IAN2|>"}\n', encoding="utf-8")
    _prompt_wav(code / "examples" / "prompt" / "standin_zh.wav")
    line = {
        "uttid": "0",
        "prompt_text": "他当时还跟线下其他的站姐吵架。",
        "prompt_speech": "examples/prompt/standin_zh.wav",
        "syn_text": "你好。",
    }
    (code / "examples" / "example_zh.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n")
    return code


def make_model_dir(root: Path, skip: tuple[str, ...] = ()) -> Path:
    ckpt = root / "model" / "ckpt"
    for rel in CKPT_FILES:
        if rel not in skip:
            (ckpt / rel).parent.mkdir(parents=True, exist_ok=True)
            (ckpt / rel).write_text("{}")
    for rel in CKPT_DIRS:
        if rel not in skip:
            (ckpt / rel).mkdir(parents=True, exist_ok=True)
    return root / "model"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    # One code dir per test process: the upstream module is imported once per process.
    root = tmp_path_factory.mktemp("glmtts")
    return make_code_dir(root), make_model_dir(root)


@pytest.fixture(scope="module")
def backend(layout):
    code, model = layout
    b = GlmTtsBackend(code, model, device="cpu", sample_rate=24000)
    b.load()
    yield b
    b.unload()


def _settings(layout, tmp_path, **extra):
    code, model = layout
    env = {
        "GLMTTS_BACKEND": "glmtts",
        "GLMTTS_CODE_DIR": str(code),
        "GLMTTS_MODEL_DIR": str(model),
        "GLMTTS_DEVICE": "cpu",
        "GLMTTS_DATA_DIR": str(tmp_path),
    }
    env.update({f"GLMTTS_{k.upper()}": str(v) for k, v in extra.items()})
    return load_settings(env)


def test_load_uses_upstream_layout_and_restores_cwd(layout):
    code, model = layout
    before = os.getcwd()
    b = GlmTtsBackend(code, model, device="cpu")
    b.load()
    try:
        assert os.getcwd() == before
        assert sys.modules["glmtts_inference"].__file__ == str((code / "glmtts_inference.py").resolve())
        assert b.sample_rate == 24000
        assert b.empty_cache() == 0 and b.memory_stats() == {}  # CPU: nothing to free
    finally:
        b.unload()


def test_synthesis_through_the_synthesizer_resamples_to_the_service_rate(layout, tmp_path):
    synth = build_synthesizer(_settings(layout, tmp_path, sample_rate=16000))
    audio = synth.synthesize("你好，世界。Hello there! 第三句。")
    decoded, rate = sf.read(io.BytesIO(encode(audio, "wav")), dtype="float32")
    assert rate == 16000
    assert audio.metadata["sentences"] == 3
    assert len(decoded) / rate > 0.5
    assert rms(decoded) > 0.05


def test_whole_text_goes_to_upstream_in_one_call_so_its_cache_spans_sentences(backend):
    audio = Synthesizer(backend).synthesize("第一句。Second sentence! 第三句？")
    assert audio.metadata["sentences"] == 3
    # One generate_long call: upstream split it and normalised each piece itself.
    assert audio.metadata["normalized_text"] == ["第一句。", "second sentence!", "第三句？"]
    streamed = list(Synthesizer(backend).stream("第一句。Second sentence! 第三句？"))
    assert len(streamed) == 3


def test_seed_makes_output_reproducible(backend):
    synth = Synthesizer(backend)
    a = synth.synthesize("同一个种子。", SynthesisOptions(seed=7)).samples
    b = synth.synthesize("同一个种子。", SynthesisOptions(seed=7)).samples
    c = synth.synthesize("同一个种子。", SynthesisOptions(seed=8)).samples
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_registered_voice_prompt_is_extracted_once(backend, tmp_path):
    prompt = tmp_path / "alice.wav"
    _prompt_wav(prompt, seconds=5.0, rate=16000)
    voice = Voice(name="alice", audio_path=prompt, transcript="这是爱丽丝的声音。")
    synth = Synthesizer(backend)
    first = synth.synthesize("第一句。", SynthesisOptions(voice=voice))
    cached = len(backend._prompts)
    second = synth.synthesize("第二句。", SynthesisOptions(voice=voice))
    assert len(backend._prompts) == cached
    assert first.duration_s > 0 and second.duration_s > 0


def test_phoneme_mode_merges_our_dictionary_into_upstream_replace_dict(layout, tmp_path):
    g2p = tmp_path / "g2p.jsonl"
    g2p.write_text('{"word": "重", "pinyin": "chóng"}\n', encoding="utf-8")
    synth = build_synthesizer(_settings(layout, tmp_path, g2p_dict=g2p))
    audio = synth.backend.synthesize(synth.plan("重弦。", phoneme=True)[0], SynthesisOptions())
    assert audio.metadata["phonemes"] == ["<|CH|><|ONG2|><|X|><|IAN2|>。"]
    plain = synth.backend.synthesize(synth.plan("重弦。")[0], SynthesisOptions())
    assert plain.metadata["phonemes"] == []


def test_missing_checkpoints_are_named(layout, tmp_path):
    code, _ = layout
    model = make_model_dir(tmp_path, skip=("flow/flow.pt", "speech_tokenizer"))
    with pytest.raises(BackendUnavailable) as err:
        GlmTtsBackend(code, model, device="cpu").load()
    message = str(err.value)
    assert "flow/flow.pt" in message and "speech_tokenizer/" in message
    assert "hift" not in message


def test_32k_needs_the_vocos_vocoder(layout):
    code, model = layout
    with pytest.raises(BackendUnavailable, match=r"vocos2d/generator_jit\.ckpt"):
        GlmTtsBackend(code, model, device="cpu", sample_rate=32000).load()


def test_unset_and_missing_code_dir(layout, tmp_path):
    _, model = layout
    with pytest.raises(BackendUnavailable, match="GLMTTS_CODE_DIR is not set"):
        GlmTtsBackend(None, model).load()
    empty = tmp_path / "code"
    (empty / "frontend").mkdir(parents=True)
    with pytest.raises(BackendUnavailable, match=r"glmtts_inference\.py.*campplus\.onnx"):
        GlmTtsBackend(empty, model).load()


def test_cuda_device_without_cuda_is_refused(layout, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailable, match="CUDA is not available"):
        create_backend(_settings(layout, tmp_path, device="cuda")).load()


def test_second_code_dir_in_one_process_is_refused(backend, tmp_path):
    other = make_code_dir(tmp_path)
    with pytest.raises(BackendUnavailable, match="already imported"):
        GlmTtsBackend(other, backend.model_dir, device="cpu").load()


def test_speed_is_applied_after_upstream_by_time_stretch(backend):
    synth = Synthesizer(backend)
    normal = synth.synthesize("速度测试。", SynthesisOptions(seed=3))
    fast = synth.synthesize("速度测试。", SynthesisOptions(seed=3, speed=2.0))
    assert abs(fast.duration_s - normal.duration_s / 2) < 0.05 * normal.duration_s
    assert rms(fast.samples) > 0.05


@pytest.mark.gpu
def test_empty_cache_reports_the_bytes_it_released(layout):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    code, model = layout
    b = GlmTtsBackend(code, model, device="cuda")
    b.load()
    try:
        block = torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device="cuda")
        del block  # freed to PyTorch's cache, still reserved
        stats = b.memory_stats()
        assert stats["reserved"] >= 64 * 1024 * 1024 and stats["total"] > 0
        assert b.empty_cache() >= 64 * 1024 * 1024
        assert b.memory_stats()["reserved"] < stats["reserved"]
    finally:
        b.unload()


def test_without_upstream_examples_warmup_is_skipped_and_a_voice_is_required(layout, tmp_path):
    code, model = layout
    shutil.move(code / "examples", tmp_path / "examples")
    try:
        b = GlmTtsBackend(code, model, device="cpu")
        b.load()
        b.warmup()  # nothing to warm up with: must not fail startup
        with pytest.raises(ValueError, match="needs a voice"):
            b.synthesize([Segment("你好。", "zh")], SynthesisOptions())
    finally:
        shutil.move(tmp_path / "examples", code / "examples")


# What the adapter calls: (upstream file, class or None, function); module functions are
# compared with their defaults, methods by parameter names (the adapter calls them positionally
# or by keyword).
UPSTREAM_API = (
    ("glmtts_inference.py", None, "load_models"),
    ("glmtts_inference.py", None, "generate_long"),
    ("cosyvoice/cli/frontend.py", "TTSFrontEnd", "_extract_text_token"),
    ("cosyvoice/cli/frontend.py", "TTSFrontEnd", "_extract_speech_token"),
    ("cosyvoice/cli/frontend.py", "TTSFrontEnd", "_extract_spk_embedding"),
    ("cosyvoice/cli/frontend.py", "TTSFrontEnd", "_extract_speech_feat"),
    ("cosyvoice/cli/frontend.py", "TextFrontEnd", "text_normalize"),
    ("utils/tts_model_util.py", "Token2Wav", "token2wav_with_cache"),
)


def _signature(source: str, cls: str | None, name: str) -> list[tuple[str, str | None]]:
    """Parameters (name, default source) of a function or method, without importing the module."""
    body = ast.parse(source).body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)
    args = node.args.args
    defaults = [None] * (len(args) - len(node.args.defaults)) + [ast.unparse(d) for d in node.args.defaults]
    return [(a.arg, d if cls is None else None) for a, d in zip(args, defaults, strict=True)]


def test_standin_signatures_match_a_real_upstream_checkout():
    """Run with GLMTTS_UPSTREAM_CODE_DIR=<checkout of zai-org/GLM-TTS> (e.g. in the image build)."""
    upstream = os.environ.get("GLMTTS_UPSTREAM_CODE_DIR")
    if not upstream:
        pytest.skip("set GLMTTS_UPSTREAM_CODE_DIR to an upstream GLM-TTS checkout to compare signatures")
    standin = (STANDIN / "glmtts_inference.py").read_text(encoding="utf-8")
    for path, cls, name in UPSTREAM_API:
        real = _signature((Path(upstream) / path).read_text(encoding="utf-8"), cls, name)
        assert _signature(standin, cls, name) == real, f"{path} {cls or ''}.{name}"
