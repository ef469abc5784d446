"""The one parser of upstream GLM-TTS batch JSONL, and the uttid rule.

Used by the server's `/v1/batch`, `glm-tts-server batch run|plan|synthesize` (and so the
Tekton batch Tasks). Each line is checked up front; a bad line is reported with its number and
what to fix, and never stops the other lines from being checked.

The uttid names the output file `<uttid>.wav` (and a URL path segment), so it must be a safe,
portable file name. The rule (documented in inference/README.md, "Batch"):
- a JSON string, or a non-negative JSON integer (`12` means `"12"`); not a bool, float or null;
- 1 to 128 characters and at most 200 UTF-8 bytes (file systems allow 255 per name, minus
  `.wav` and the temporary-file affixes);
- letters and digits of any script, `_`, `-` and `.`; no whitespace, path separators, control
  or other punctuation characters;
- starts with a letter or a digit (no dot files, nothing that looks like a command-line option);
- in Unicode NFC form (so two spellings of the same text cannot become two files);
- unique within the file (compared exactly).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glm_tts_server.audio import InvalidAudio, check_reference, read_reference

UTTID_MAX_CHARS = 128
UTTID_MAX_BYTES = 200
UTTID_EXTRA = frozenset("_-.")


@dataclass(frozen=True)
class BatchItem:
    line: int
    uttid: str
    syn_text: str
    prompt_text: str | None = None
    prompt_speech: Path | None = None
    """Resolved path, inside the data directory."""
    prompt_speech_rel: str | None = None
    """As written in the file (relative to the data directory)."""

    def to_json(self) -> str:
        """The line in upstream form (shards are written with this)."""
        obj: dict[str, Any] = {"uttid": self.uttid, "syn_text": self.syn_text}
        if self.prompt_speech_rel is not None:
            obj.update(prompt_text=self.prompt_text, prompt_speech=self.prompt_speech_rel)
        return json.dumps(obj, ensure_ascii=False)


@dataclass(frozen=True)
class LineError:
    line: int
    message: str
    uttid: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def uttid_problem(uttid: str) -> str | None:
    """Why `uttid` cannot name an output file, or None when it can."""
    if not uttid:
        return "is empty"
    if len(uttid) > UTTID_MAX_CHARS or len(uttid.encode("utf-8")) > UTTID_MAX_BYTES:
        return f"is too long (at most {UTTID_MAX_CHARS} characters and {UTTID_MAX_BYTES} UTF-8 bytes)"
    if unicodedata.normalize("NFC", uttid) != uttid:
        return "is not in Unicode NFC form: normalise it (e.g. write é as one character)"
    for char in uttid:
        if not (char.isalnum() or char in UTTID_EXTRA):
            what = "whitespace" if char.isspace() else "a path separator" if char in "/\\" else repr(char)
            return f"contains {what}: use letters, digits, '_', '-' or '.'"
    if not uttid[0].isalnum():
        return "must start with a letter or a digit (no dot files, nothing like an option)"
    return None


def normalise_uttid(value: Any) -> str:
    """The uttid as a checked string; raises ValueError saying what to fix."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if value is None or value == "":
        raise ValueError("missing uttid: give every line a unique id (it names the output WAV)")
    if not isinstance(value, str):
        raise ValueError(f"uttid {value!r} must be a string or a non-negative integer")
    problem = uttid_problem(value)
    if problem:
        raise ValueError(f"uttid {value!r} {problem}")
    return value


def _resolve_prompt(value: Any, root: Path, vetted: dict[Path, str | None]) -> Path:
    """Resolve and vet a prompt path; `vetted` remembers each file's verdict (batches reuse prompts)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("prompt_speech must be a path (string) to a WAV/FLAC file under the data directory")
    # resolve() follows symlinks and folds "..", so the check sees where the file really is.
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise ValueError(
            f"prompt_speech {value!r} resolves outside the data directory: "
            "copy the file under it and use a relative path"
        )
    if path not in vetted:
        vetted[path] = _vet_audio(path)
    if vetted[path] is not None:
        raise ValueError(f"prompt_speech {value!r}: {vetted[path]}")
    return path


def _vet_audio(path: Path) -> str | None:
    """None if the file is a usable prompt, else why not."""
    try:
        check_reference(read_reference(path.read_bytes()))
    except FileNotFoundError:
        return "no such file under the data directory"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except InvalidAudio as exc:
        return str(exc)
    return None


def _parse_line(
    number: int, raw: str, root: Path, seen: dict[str, int], vetted: dict[Path, str | None]
) -> BatchItem:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON ({exc.msg} at column {exc.colno}): write one JSON object per line"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with uttid and syn_text")
    uttid = normalise_uttid(obj.get("uttid"))
    if uttid in seen:
        raise ValueError(f"duplicate uttid {uttid!r} (first used on line {seen[uttid]}): make it unique")
    seen[uttid] = number
    syn_text = obj.get("syn_text")
    if not isinstance(syn_text, str) or not syn_text.strip():
        raise ValueError("missing syn_text: give the text to synthesise")
    prompt_text = obj.get("prompt_text")
    if obj.get("prompt_speech") in (None, ""):
        return BatchItem(number, uttid, syn_text)
    if not isinstance(prompt_text, str) or not prompt_text.strip():
        raise ValueError("prompt_speech needs prompt_text: the exact transcript of the prompt audio")
    prompt_speech = _resolve_prompt(obj["prompt_speech"], root, vetted)
    return BatchItem(number, uttid, syn_text, prompt_text, prompt_speech, obj["prompt_speech"])


def _raw_uttid(raw: str) -> str | None:
    try:
        uttid = json.loads(raw).get("uttid")
    except (ValueError, AttributeError):
        return None
    return None if uttid is None else str(uttid)


def parse_jsonl(
    text_or_lines: str | Iterable[str], data_dir: str | os.PathLike[str]
) -> tuple[list[BatchItem], list[LineError]]:
    """Parse upstream-format JSONL; blank lines are skipped. Returns (good items, errors).

    `prompt_speech` paths are relative to `data_dir` and must stay inside it.
    """
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    items: list[BatchItem] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    vetted: dict[Path, str | None] = {}
    root = Path(data_dir).resolve()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            items.append(_parse_line(number, raw, root, seen, vetted))
        except ValueError as exc:
            errors.append(LineError(number, str(exc), _raw_uttid(raw)))
    return items, errors


__all__ = ["BatchItem", "LineError", "normalise_uttid", "parse_jsonl", "uttid_problem"]
