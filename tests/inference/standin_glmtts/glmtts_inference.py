"""Stand-in for upstream GLM-TTS `glmtts_inference` (no weights, CPU, deterministic audio).

Same module name, globals and call signatures as zai-org/GLM-TTS@c5dc7aecc3b4 — `DEVICE`,
`load_models(use_phoneme=False, sample_rate=24000)` reading `ckpt/...` and `frontend/...`
relative to the working directory, `generate_long(frontend, text_frontend, llm, flow, text_info,
cache, device, embedding, seed=0, sample_method="ras", flow_prompt_token=None, speech_feat=None,
local_llm_forward=..., local_flow_forward=..., use_phoneme=False)` returning
`(tts_speech [1, T], mel, tokens, text_tn_dict)` — so the adapter's calling convention is
exercised for real. Speech is a tone per speech token, derived from the text and the seed.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

DEVICE = torch.device("cpu")
TOKEN_RATE = 25
_CONFIGS = Path(__file__).resolve().parent / "configs"


def _require(path: str) -> Path:
    """Upstream opens these relative to the working directory; fail the same way it would."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"[standin] {path} not found relative to {Path.cwd()}")
    return p


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TextFrontEnd:
    def __init__(self, use_phoneme=False):
        self.use_phoneme = use_phoneme
        self.replace_dict = {}
        if use_phoneme:
            path = _CONFIGS / "G2P_replace_dict.jsonl"
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.replace_dict.update(json.loads(line))

    def text_normalize(self, text):
        if text is None:
            return None
        text = re.sub(r"\s+", " ", text).strip().lower()
        if text[-1:] in "。.!?！？":
            return text
        return text + ("。" if re.search(r"[\u4e00-\u9fff]", text) else ".")

    def split_by_len(self, text, min_text_len=30, max_text_len=60):
        parts = [p for p in re.split(r"(?<=[。.!?！？])", text) if p.strip()]
        return parts or [text]

    def g2p_infer(self, text):
        keys = sorted(self.replace_dict, key=len, reverse=True)
        if not keys:
            return text
        return re.sub("|".join(map(re.escape, keys)), lambda m: self.replace_dict[m.group(0)], text)


class SpeechTokenizer:
    def extract_speech_token(self, utts):
        out = []
        for utt in utts:
            audio, rate = sf.read(utt, dtype="float32", always_2d=True)
            hop = rate // TOKEN_RATE
            frames = audio[: len(audio) // hop * hop, 0].reshape(-1, hop)
            out.append([int(min(np.sqrt(np.mean(f**2)) * 4000, 32767)) for f in frames])
        return out


class TTSFrontEnd:
    def __init__(
        self, tokenize_fn, speech_tokenizer, feat_extractor, campplus_model, spk2info="", device=None
    ):
        _require(campplus_model)
        self.tokenize_fn = tokenize_fn
        self.speech_tokenizer = speech_tokenizer
        self.feat_extractor = feat_extractor
        self.device = device or DEVICE

    def _extract_text_token(self, text):
        return torch.tensor([self.tokenize_fn(text)], dtype=torch.int32).to(self.device)

    def _extract_speech_token(self, path_or_tuple):
        return torch.tensor(self.speech_tokenizer.extract_speech_token(path_or_tuple)).to(self.device)

    def _extract_spk_embedding(self, speech):
        audio, _ = sf.read(speech, dtype="float32", always_2d=True)
        return torch.full((1, 192), float(np.abs(audio).mean()), device=self.device)

    def _extract_speech_feat(self, speech, sample_rate=24000):
        audio, _ = sf.read(speech, dtype="float32", always_2d=True)
        return self.feat_extractor(torch.from_numpy(audio[:, 0]))


class GLMTTS:
    """The LLM: text tokens → speech tokens (3 per text token, plus seeded jitter)."""

    def inference(
        self,
        text,
        text_len,
        prompt_text,
        prompt_text_len,
        prompt_speech_token,
        prompt_speech_token_len,
        beam_size=1,
        sampling=25,
        sample_method="ras",
        spk=None,
    ):
        assert text.shape[0] == 1 and int(text_len[0]) == text.shape[1]
        assert int(prompt_speech_token_len[0]) == prompt_speech_token.shape[1] > 0
        base = text[0].long().repeat_interleave(3)
        jitter = torch.randint(0, 7, base.shape)
        return [(base * 7 + jitter) % 400]


class Token2Wav:
    def __init__(self, flow, sample_rate=24000, device="cpu"):
        self.sample_rate = sample_rate

    def token2wav_with_cache(
        self, token_bt, n_timesteps=10, prompt_token=None, prompt_feat=None, embedding=None
    ):
        assert prompt_token is not None and prompt_token.dtype == torch.int32 and prompt_token.dim() == 2
        assert embedding is not None and embedding.shape == (1, 192)
        hop = self.sample_rate // TOKEN_RATE
        t = torch.arange(hop, dtype=torch.float32) / self.sample_rate
        envelope = torch.hann_window(hop, periodic=False)
        wav = torch.cat([0.3 * envelope * torch.sin(2 * torch.pi * (120 + tok) * t) for tok in token_bt])
        return wav.unsqueeze(0), torch.zeros(1, 80, len(token_bt))


def local_llm_forward(
    llm, prompt_text_token, tts_text_token, prompt_speech_token, beam_size=1, sampling=25, sample_method="ras"
):
    def length(x):
        return torch.tensor([x.shape[1]], dtype=torch.int32)

    tokens = llm.inference(
        text=tts_text_token,
        text_len=length(tts_text_token),
        prompt_text=prompt_text_token,
        prompt_text_len=length(prompt_text_token),
        prompt_speech_token=prompt_speech_token,
        prompt_speech_token_len=length(prompt_speech_token),
        beam_size=beam_size,
        sampling=sampling,
        sample_method=sample_method,
        spk=None,
    )
    return tokens[0].tolist()


def local_flow_forward(flow, token_list, prompt_speech_tokens, speech_feat, embedding):
    wav, mel = flow.token2wav_with_cache(
        token_list, prompt_token=prompt_speech_tokens, prompt_feat=speech_feat, embedding=embedding
    )
    return wav.detach().cpu(), mel


def generate_long(
    frontend,
    text_frontend,
    llm,
    flow,
    text_info,
    cache,
    device,
    embedding,
    seed=0,
    sample_method="ras",
    flow_prompt_token=None,
    speech_feat=None,
    local_llm_forward=local_llm_forward,
    local_flow_forward=local_flow_forward,
    use_phoneme=False,
):
    outputs, tokens = [], []
    uttid, syn_text = text_info
    tn = {"uttid": uttid, "syn_text": syn_text, "syn_text_tn": [], "syn_text_phoneme": []}
    for piece in text_frontend.split_by_len(syn_text):
        set_seed(seed)
        piece = text_frontend.text_normalize(piece)
        tn["syn_text_tn"].append(piece)
        if use_phoneme:
            piece = text_frontend.g2p_infer(piece)
            tn["syn_text_phoneme"].append(piece)
        text_token = frontend._extract_text_token(piece)
        prompt_text_token = torch.cat([t.reshape(1, -1) for t in cache["cache_text_token"]], dim=1)
        history = [tok for chunk in cache["cache_speech_token"] for tok in chunk]
        prompt_speech = torch.tensor([history], dtype=torch.int32)
        res = local_llm_forward(
            llm=llm,
            prompt_text_token=prompt_text_token,
            tts_text_token=text_token,
            prompt_speech_token=prompt_speech,
            sample_method=sample_method,
        )
        tokens.extend(res)
        wav, _ = local_flow_forward(
            flow=flow,
            token_list=res,
            prompt_speech_tokens=flow_prompt_token,
            speech_feat=speech_feat,
            embedding=embedding,
        )
        cache["cache_text"].append(piece)
        cache["cache_text_token"].append(text_token)
        cache["cache_speech_token"].append(res)
        outputs.append(wav)
    return torch.concat(outputs, dim=1), None, tokens, tn


def load_models(use_phoneme=False, sample_rate=24000):
    _require("ckpt/speech_tokenizer")
    _require("ckpt/vq32k-phoneme-tokenizer")
    json.loads(_require("ckpt/llm/config.json").read_text())
    _require("ckpt/flow/flow.pt")
    _require("ckpt/flow/config.yaml")
    _require("ckpt/hift/hift.pt" if sample_rate == 24000 else "ckpt/vocos2d/generator_jit.ckpt")
    speech_tokenizer = SpeechTokenizer()
    frontend = TTSFrontEnd(
        lambda text: [ord(c) % 4096 for c in text],
        speech_tokenizer,
        lambda wav: wav.reshape(1, -1, 1),
        "frontend/campplus.onnx",
        "frontend/spk2info.pt",
        DEVICE,
    )
    token2wav = Token2Wav(None, sample_rate, DEVICE)
    return frontend, TextFrontEnd(use_phoneme), speech_tokenizer, GLMTTS(), token2wav
