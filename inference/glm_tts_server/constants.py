"""Contract shared with the Helm chart, the hooks and the Tekton tasks.

The chart's probes and the hooks' verify step import these (tests assert the chart uses them),
so the service and everything that talks to it cannot drift apart.
"""

HTTP_PORT = 8080
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
METRICS_PATH = "/metrics"
SPEECH_PATH = "/v1/audio/speech"
TTS_PATH = "/v1/tts"
VOICES_PATH = "/v1/voices"
BATCH_PATH = "/v1/batch"
EMPTY_CACHE_PATH = "/admin/empty-cache"
OPENAPI_PATH = "/openapi.json"

ENV_PREFIX = "GLMTTS_"
CONFIG_FILE_ENV = "GLMTTS_CONFIG"

# Exit codes of every command (`glm-tts-server serve|synthesize|batch`): 0 pass, 1 failed, 2 usage.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Upstream GLM-TTS writes 24 kHz audio by default (32 kHz with the 32k vocoder).
DEFAULT_SAMPLE_RATE = 24000
