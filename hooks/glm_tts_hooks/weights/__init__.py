"""`glm-tts-hooks fetch-weights`: the GLM-TTS checkpoints into the model volume, once."""
