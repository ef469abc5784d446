"""`glm-tts-hooks preflight`: can this release run on this cluster, and if not, what to fix."""
