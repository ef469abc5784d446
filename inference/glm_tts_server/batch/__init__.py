"""Batch synthesis over upstream GLM-TTS JSONL (`{"uttid","prompt_text","prompt_speech","syn_text"}`).

- `jsonl`: the one parser of the format and the uttid rule, used by every entry point below.
- `local`: synthesise a file in this process (`glm-tts-server batch run`).
- `shards`: cut a file into shards and prove the shard results cover it (`batch plan`/`gather`).
- `remote`: synthesise one shard against a running service (`batch synthesize`).
- `command`: the `glm-tts-server batch ...` verbs. The HTTP API's jobs are in `server/batch_jobs.py`.
"""
