"""`glm-tts-hooks cuda-check`: inside the GPU pod, prove the GPU computes correctly and at speed."""
