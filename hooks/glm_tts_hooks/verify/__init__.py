"""`glm-tts-hooks verify`: after install, prove the release serves real, plausible speech."""
