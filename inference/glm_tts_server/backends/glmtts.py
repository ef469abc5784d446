"""The real GLM-TTS model, through upstream's own entry points (no copy of its code).

Mirrors zai-org/GLM-TTS at commit c5dc7aecc3b4032032d631b271e767893984f821 (2025-12-17):

- `glmtts_inference.load_models(use_phoneme=False, sample_rate=24000)` returns
  `(frontend, text_frontend, speech_tokenizer, llm, token2wav)`; it reads checkpoints from the
  *working directory*: `ckpt/speech_tokenizer`, `ckpt/vq32k-phoneme-tokenizer`, `ckpt/llm`,
  `ckpt/flow/{flow.pt,config.yaml}`, `ckpt/hift/hift.pt` (24 kHz) or
  `ckpt/vocos2d/generator_jit.ckpt` (32 kHz), and `frontend/campplus.onnx`.
- `glmtts_inference.generate_long(frontend, text_frontend, llm, flow, text_info, cache, device,
  embedding, seed=0, sample_method="ras", flow_prompt_token=None, speech_feat=None, ...,
  use_phoneme=False)` returns `(tts_speech [1, T] tensor, mel, tokens, text_tn_dict)`; `flow`
  is the Token2Wav object; `cache` holds the prompt's text/tokens and grows per sentence.
- Prompt features as in upstream's `jsonl_generate`: `frontend._extract_text_token`,
  `_extract_speech_token([path])`, `_extract_speech_feat(path, sample_rate=...)`,
  `_extract_spk_embedding(path)`.
- Phoneme mode: `text_frontend.replace_dict` (loaded from `configs/G2P_replace_dict.jsonl`) is
  applied by `g2p_infer` after text normalisation; our G2P dictionary is merged into it.

Because upstream resolves `ckpt/` and `frontend/` against the working directory, `load()` builds
a private directory of symlinks (ckpt → model dir, frontend/configs → code dir) and changes into
it only while loading. Upstream keeps global state (RNG seeding, caches), so syntheses are
serialised by a lock; scale with one process per GPU.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glm_tts_server.audio import change_speed
from glm_tts_server.backends.base import Audio, BackendUnavailable, OutOfMemory, Segment, SynthesisOptions

log = logging.getLogger(__name__)

UPSTREAM_COMMIT = "c5dc7aecc3b4032032d631b271e767893984f821"
UPSTREAM_MODULE = "glmtts_inference"
NATIVE_RATES = (24000, 32000)
CODE_FILES = (f"{UPSTREAM_MODULE}.py", "frontend/campplus.onnx")
CKPT_COMMON = (
    "llm/config.json",
    "flow/flow.pt",
    "flow/config.yaml",
    "speech_tokenizer/",
    "vq32k-phoneme-tokenizer/",
)
CKPT_VOCODER = {24000: "hift/hift.pt", 32000: "vocos2d/generator_jit.ckpt"}
DEFAULT_PROMPT_JSONL = "examples/example_zh.jsonl"  # upstream's own sample voice
PROMPT_CACHE_SIZE = 32


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _join(segments: list[Segment]) -> str:
    """One sentence's segments back into one string (GLM-TTS reads mixed zh/en natively)."""
    out = ""
    for seg in segments:
        text = seg.text.strip()
        latin_edge = out and text and (_latin(out[-1]) or _latin(text[0]))
        if latin_edge:
            out += " "
        out += text
    return out


class GlmTtsBackend:
    """The `glmtts` backend.

    `handles_g2p`: the Synthesizer leaves dictionary overrides to it. Upstream has no speaking-rate
    control, so `speed` is applied afterwards by a pitch-preserving time stretch.
    `long_text_context`: non-streaming requests arrive whole, and generate_long splits them.
    """

    name = "glmtts"
    handles_g2p = True
    long_text_context = True  # whole-text calls keep upstream's cross-sentence prompt cache

    def __init__(
        self,
        code_dir: Path | str | None,
        model_dir: Path | str | None,
        device: str = "cuda",
        sample_rate: int = 24000,
        g2p: Any = None,
    ):
        self.code_dir = Path(code_dir) if code_dir else None
        self.model_dir = Path(model_dir) if model_dir else None
        self.device = device
        # The vocoder decides the native rate; any other service rate is resampled above us.
        self.sample_rate = sample_rate if sample_rate in NATIVE_RATES else 24000
        self.g2p = g2p
        self._lock = threading.Lock()
        self._module: Any = None
        self._models: tuple | None = None
        self._upstream_replace: dict[str, str] = {}
        self._runtime_dir: Path | None = None
        self._prompts: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._default_voice: tuple[Path, str] | None = None
        self._torch: Any = None

    # -- loading ---------------------------------------------------------------------------
    def _ckpt_dir(self) -> Path:
        assert self.model_dir is not None
        nested = self.model_dir / "ckpt"
        return nested if nested.is_dir() else self.model_dir

    def check_files(self) -> None:
        """Raise BackendUnavailable listing every missing code or checkpoint path."""
        if self.code_dir is None:
            raise BackendUnavailable(
                "glmtts backend: GLMTTS_CODE_DIR is not set (checkout of zai-org/GLM-TTS)"
            )
        if self.model_dir is None:
            raise BackendUnavailable("glmtts backend: GLMTTS_MODEL_DIR is not set (directory holding ckpt/)")
        if not self.code_dir.is_dir():
            raise BackendUnavailable(f"glmtts backend: code dir {self.code_dir} does not exist")
        if not self.model_dir.is_dir():
            raise BackendUnavailable(f"glmtts backend: model dir {self.model_dir} does not exist")
        missing = [str(self.code_dir / f) for f in CODE_FILES if not (self.code_dir / f).is_file()]
        ckpt = self._ckpt_dir()
        for rel in (*CKPT_COMMON, CKPT_VOCODER[self.sample_rate]):
            path = ckpt / rel.rstrip("/")
            if not (path.is_dir() if rel.endswith("/") else path.is_file()):
                missing.append(str(path) + ("/" if rel.endswith("/") else ""))
        if missing:
            raise BackendUnavailable(
                "glmtts backend: missing "
                + ", ".join(missing)
                + f" (checkpoints: huggingface-cli download zai-org/GLM-TTS --local-dir "
                f"{ckpt}; code: zai-org/GLM-TTS@{UPSTREAM_COMMIT[:12]})"
            )

    def _import_torch(self) -> Any:
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailable("glmtts backend: torch is not installed (use the GPU image)") from exc
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise BackendUnavailable(
                    f"glmtts backend: CUDA is not available (device {self.device!r}): run on a GPU node "
                    "with the NVIDIA device plugin, or use GLMTTS_BACKEND=espeak"
                )
            if ":" in self.device:
                # Upstream places everything on the *current* CUDA device.
                torch.cuda.set_device(self.device)
        return torch

    def _runtime_layout(self) -> Path:
        assert self.code_dir is not None
        runtime = Path(tempfile.mkdtemp(prefix="glmtts-run-"))
        (runtime / "ckpt").symlink_to(self._ckpt_dir().resolve(), target_is_directory=True)
        for name in ("frontend", "configs"):
            if (self.code_dir / name).is_dir():
                (runtime / name).symlink_to((self.code_dir / name).resolve(), target_is_directory=True)
        return runtime

    def _import_upstream(self) -> Any:
        assert self.code_dir is not None
        code = str(self.code_dir.resolve())
        loaded = sys.modules.get(UPSTREAM_MODULE)
        if loaded is not None:
            where = Path(getattr(loaded, "__file__", "") or "").resolve().parent
            if str(where) != code:
                raise BackendUnavailable(
                    f"glmtts backend: {UPSTREAM_MODULE} was already imported from {where} "
                    f"in this process, not from {code}"
                )
            return loaded
        if code not in sys.path:
            sys.path.insert(0, code)
        try:
            return importlib.import_module(UPSTREAM_MODULE)
        except ImportError as exc:
            raise BackendUnavailable(
                f"glmtts backend: cannot import {UPSTREAM_MODULE} from {code}: {exc} "
                "(install upstream's requirements.txt into the image)"
            ) from exc

    def _find_default_voice(self) -> tuple[Path, str] | None:
        assert self.code_dir is not None
        try:
            first = (self.code_dir / DEFAULT_PROMPT_JSONL).read_text(encoding="utf-8").splitlines()[0]
            item = json.loads(first)
            path = (self.code_dir / item["prompt_speech"]).resolve()
            return (path, item["prompt_text"]) if path.is_file() else None
        except (OSError, IndexError, KeyError, TypeError, ValueError):
            return None

    def load(self) -> None:
        self.check_files()
        torch = self._import_torch()
        module = self._import_upstream()
        runtime = self._runtime_layout()
        try:
            with self._lock, _working_dir(runtime):
                # use_phoneme=True builds upstream's G2P once; each request still picks the mode.
                models = module.load_models(use_phoneme=True, sample_rate=self.sample_rate)
        except torch.cuda.OutOfMemoryError as exc:
            shutil.rmtree(runtime, ignore_errors=True)
            raise OutOfMemory(f"glmtts backend: out of GPU memory while loading the model: {exc}") from exc
        except (OSError, ImportError) as exc:
            shutil.rmtree(runtime, ignore_errors=True)
            raise BackendUnavailable(f"glmtts backend: loading the model failed: {exc}") from exc
        self._torch, self._module, self._models, self._runtime_dir = torch, module, tuple(models), runtime
        text_frontend = self._models[1]
        self._upstream_replace = dict(getattr(text_frontend, "replace_dict", {}) or {})
        self._default_voice = self._find_default_voice()
        log.info(
            "glmtts backend loaded from %s (%d Hz, device %s)", self.model_dir, self.sample_rate, self.device
        )

    def warmup(self) -> None:
        if self._default_voice is None:
            log.warning(
                "glmtts backend: no default prompt in %s, skipping warm-up; the first request will be slower",
                self.code_dir,
            )
            return
        self.synthesize([Segment("你好。", "zh")], SynthesisOptions(seed=0))

    # -- synthesis -------------------------------------------------------------------------
    def _prompt(self, voice_path: Path, transcript: str) -> dict[str, Any]:
        """Prompt features (tokens, mel, speaker embedding), cached per voice file version."""
        key = (str(voice_path), voice_path.stat().st_mtime_ns, transcript)
        if key in self._prompts:
            self._prompts.move_to_end(key)
            return self._prompts[key]
        frontend, text_frontend = self._models[0], self._models[1]
        torch, module = self._torch, self._module
        prompt_text = text_frontend.text_normalize(transcript)
        speech_token = frontend._extract_speech_token([str(voice_path)])
        features = {
            "prompt_text": prompt_text,
            # The trailing space matches upstream's jsonl_generate.
            "prompt_text_token": frontend._extract_text_token(prompt_text + " "),
            "speech_token": speech_token.squeeze().tolist(),
            "speech_feat": frontend._extract_speech_feat(str(voice_path), sample_rate=self.sample_rate),
            "embedding": frontend._extract_spk_embedding(str(voice_path)),
        }
        features["flow_prompt_token"] = torch.tensor([features["speech_token"]], dtype=torch.int32).to(
            module.DEVICE
        )
        self._prompts[key] = features
        while len(self._prompts) > PROMPT_CACHE_SIZE:
            self._prompts.popitem(last=False)
        return features

    def _voice(self, options: SynthesisOptions) -> tuple[Path, str]:
        if options.voice is not None:
            return Path(options.voice.audio_path), options.voice.transcript
        if self._default_voice is None:
            raise ValueError(
                "the glmtts backend needs a voice: register one (POST /v1/voices) and pass "
                "`voice`, or send prompt_audio + prompt_text"
            )
        return self._default_voice

    def synthesize(self, segments: list[Segment], options: SynthesisOptions) -> Audio:
        if self._models is None:
            raise BackendUnavailable("glmtts backend: call load() before synthesize()")
        text = _join(segments)
        use_phoneme = any(seg.phonemes for seg in segments)
        frontend, text_frontend, _, llm, token2wav = self._models
        torch, module = self._torch, self._module
        voice_path, transcript = self._voice(options)
        try:
            with self._lock, torch.no_grad():  # as upstream's own speech tokenizer does
                if use_phoneme:
                    overrides = self.g2p.entries if self.g2p is not None else {}
                    text_frontend.replace_dict = {**self._upstream_replace, **overrides}
                prompt = self._prompt(voice_path, transcript)
                cache = {  # fresh lists: generate_long appends to them
                    "cache_text": [prompt["prompt_text"]],
                    "cache_text_token": [prompt["prompt_text_token"]],
                    "cache_speech_token": [list(prompt["speech_token"])],
                    "use_cache": True,
                }
                speech, _, _, text_info = module.generate_long(
                    frontend=frontend,
                    text_frontend=text_frontend,
                    llm=llm,
                    flow=token2wav,
                    text_info=[voice_path.stem, text_frontend.text_normalize(text)],
                    cache=cache,
                    device=module.DEVICE,
                    embedding=prompt["embedding"],
                    seed=0 if options.seed is None else int(options.seed),
                    flow_prompt_token=prompt["flow_prompt_token"],
                    speech_feat=prompt["speech_feat"],
                    use_phoneme=use_phoneme,
                )
        except torch.cuda.OutOfMemoryError as exc:
            freed = self.empty_cache()
            raise OutOfMemory(
                f"GPU out of memory during synthesis (freed {freed} cached bytes): {exc}"
            ) from exc
        samples = speech.detach().float().cpu().numpy().reshape(-1).astype(np.float32)
        metadata = {
            "normalized_text": text_info.get("syn_text_tn"),
            "phonemes": text_info.get("syn_text_phoneme"),
        }
        return change_speed(
            Audio(samples=samples, sample_rate=self.sample_rate, metadata=metadata), options.speed
        )

    # -- memory ----------------------------------------------------------------------------
    def _cuda(self) -> Any:
        torch = self._torch
        return torch if torch is not None and torch.cuda.is_available() else None

    def empty_cache(self) -> int:
        torch = self._cuda()
        if torch is None:
            return 0
        gc.collect()
        before = torch.cuda.memory_reserved()
        torch.cuda.empty_cache()
        return max(0, before - torch.cuda.memory_reserved())

    def memory_stats(self) -> dict[str, int]:
        torch = self._cuda()
        if torch is None:
            return {}
        free, total = torch.cuda.mem_get_info()
        return {
            "allocated": int(torch.cuda.memory_allocated()),
            "reserved": int(torch.cuda.memory_reserved()),
            "free": int(free),
            "total": int(total),
        }

    def unload(self) -> None:
        with self._lock:
            self._models = None
            self._prompts.clear()
        self.empty_cache()
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
