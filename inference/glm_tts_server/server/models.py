"""Request and response bodies of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class ErrorResponse(BaseModel):
    """Errors outside `/v1/*`."""

    detail: str = Field(description="What went wrong and what to change")


class OpenAIError(BaseModel):
    message: str = Field(description="What went wrong and what to change")
    type: str = Field(
        description="invalid_request_error, authentication_error, rate_limit_error, server_error..."
    )
    param: str | None = Field(None, description="The request field at fault, when one is")
    code: str | None = Field(None, description="A machine-readable reason")


class OpenAIErrorResponse(BaseModel):
    """Errors under `/v1/*`: OpenAI's envelope, read by the official OpenAI clients."""

    error: OpenAIError


class TTSRequest(BaseModel):
    """Native synthesis request."""

    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not silently ignored

    text: str = Field(description="Text to speak; `<zh>…</zh>` / `<en>…</en>` tags mark languages")
    voice: str | None = Field(None, description="A registered voice (GET /v1/voices)")
    prompt_text: str | None = Field(None, description="Exact transcript of `prompt_audio`")
    prompt_audio: str | None = Field(None, description="Base64 WAV/FLAC, 3-10 s: an inline reference voice")
    phoneme: bool = Field(False, description="Phoneme mode: apply the pronunciation overrides")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Sampling seed, for repeatable output")
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    response_format: ResponseFormat = "wav"
    stream: bool = Field(False, description="Send audio sentence by sentence as it is synthesised")

    @model_validator(mode="after")
    def _one_reference(self) -> TTSRequest:
        if (self.prompt_audio is None) != (self.prompt_text is None):
            raise ValueError(
                "prompt_audio and prompt_text go together: send both (audio and its exact "
                "transcript) or neither"
            )
        if self.voice is not None and self.prompt_audio is not None:
            raise ValueError("send either voice or prompt_audio+prompt_text, not both")
        return self


class VoiceRef(BaseModel):
    """OpenAI's custom-voice object form, `{"id": "<voice>"}`."""

    id: str


class SpeechRequest(BaseModel):
    """OpenAI-compatible `POST /v1/audio/speech`. The audio is always streamed, sentence by sentence."""

    model_config = ConfigDict(extra="ignore")  # fields from newer OpenAI clients must not break requests

    model: str = Field("glm-tts", description="Any name is accepted (GET /v1/models lists this server's one)")
    input: str = Field(description="Text to speak")
    voice: str | VoiceRef | None = Field(
        None,
        description='A registered voice, by name or as {"id": name}; OpenAI\'s built-in voice names '
        "(alloy, nova...) select the server's default voice",
    )
    instructions: str | None = Field(
        None,
        max_length=4096,
        description="Accepted for compatibility, with no effect: GLM-TTS takes its speaking style from the "
        "reference voice, so clone a voice that speaks the way you want. The response says so "
        "in the X-Instructions-Applied: false header",
    )
    response_format: ResponseFormat = Field("mp3", description="mp3 when not given, as OpenAI")
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description="audio: the encoded file, streamed; sse: Server-Sent Events "
        "speech.audio.delta (base64 audio) then speech.audio.done",
    )

    @property
    def voice_name(self) -> str | None:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


class VoiceInfo(BaseModel):
    name: str
    transcript: str
    registered_by: str | None = Field(None, description="Who registered it (proxy identity or API key name)")
    registered_at: str | None = Field(None, description="When, UTC ISO 8601")
    consent: str | None = Field(None, description="The consent statement given at registration")


class ModelInfo(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelInfo]


class QueueInfo(BaseModel):
    waiting: int
    running: int
    workers: int
    capacity: int


class ServerInfo(BaseModel):
    """What the web page shows: which backend and model run, readiness, load, what is enabled."""

    version: str
    backend: str
    model: str
    ready: bool
    phase: str
    detail: str
    sample_rate: int
    formats: list[str]
    queue: QueueInfo
    gpu: bool = Field(description="The backend runs on an accelerator (the GPU controls apply)")
    admin_enabled: bool = Field(description="POST /admin/empty-cache is enabled (an admin token is set)")
    consent_required: bool = Field(description="Registering a voice needs a consent statement")
    max_input_chars: int


class VoiceList(BaseModel):
    voices: list[VoiceInfo]


class Probe(BaseModel):
    status: str
    detail: str | None = None
    consecutive_failures: int | None = None


class EmptyCacheResult(BaseModel):
    freed_bytes: int = Field(description="Cached accelerator memory released (0 on CPU)")
    memory: dict[str, int] = Field(description="Accelerator memory after the release ({} on CPU)")


class BatchLineResult(BaseModel):
    line: int
    uttid: str | None = None
    status: Literal["pending", "ok", "failed", "invalid"]
    error: str | None = None
    duration_s: float | None = None
    audio_url: str | None = None


class BatchStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "interrupted"]
    total: int
    succeeded: int
    failed: int
    items: list[BatchLineResult]
