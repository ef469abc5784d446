"""GLM-TTS inference service: HTTP API, CLI and backends (real GLM-TTS on CUDA, eSpeak NG on CPU)."""

__version__ = "0.1.0"
