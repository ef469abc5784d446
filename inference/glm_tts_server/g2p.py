"""Pronunciation overrides for phoneme mode, hot-reloaded from a JSONL file.

Each line is either upstream's own form, `{"弦": "<|X|><|IAN2|>"}` (word → phoneme tokens,
possibly mixed with characters), or the friendlier `{"word": "重庆", "pinyin": "chóng qìng"}`
(tone marks or tone numbers, one syllable per Han character), converted to the same tokens.
Blank lines and lines starting with `#` are skipped.

The file is re-read when it changes: every lookup stats the path (following symlinks), and a
new inode, size or mtime triggers a reload. A Kubernetes ConfigMap update swaps the `..data`
symlink, so the path then resolves to a new inode. A bad line is logged and listed in
`.errors` with its line number; the good lines still load. If the file vanishes, the last
good entries stay in force; a file missing from the start is reported the same way and loads
when it appears.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path

from glm_tts_server.pinyin import InvalidPinyin, pinyin_to_tokens
from glm_tts_server.text import is_han

log = logging.getLogger(__name__)

# No file has this (device, inode, size, mtime): the first lookup always reads the path, so a file
# missing from the start is reported like one that vanished later.
_NEVER_READ = (-1, -1, -1, -1, -1)


def parse_line(raw: str) -> tuple[str, str]:
    """One JSONL line → (word, replacement); ValueError says what is wrong."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or not obj:
        raise ValueError('expected {"<word>": "<phoneme tokens>"} or {"word": ..., "pinyin": ...}')
    if "word" in obj or "pinyin" in obj:
        word, pinyin = obj.get("word"), obj.get("pinyin")
        extra = set(obj) - {"word", "pinyin"}
        if extra:
            raise ValueError(f"unexpected key(s) {', '.join(sorted(extra))} next to word/pinyin")
        if not isinstance(word, str) or not word.strip():
            raise ValueError('"word" must be a non-empty string')
        if not isinstance(pinyin, str):
            raise ValueError('"pinyin" must be a string such as "chóng" or "chong2"')
        syllables = pinyin.split()
        han = sum(map(is_han, word))
        if han != len(syllables):
            raise ValueError(
                f"{word!r} has {han} Chinese character(s) but pinyin {pinyin!r} has "
                f"{len(syllables)} syllable(s): give one syllable per character"
            )
        try:
            return word.strip(), pinyin_to_tokens(pinyin)
        except InvalidPinyin as exc:
            raise ValueError(str(exc)) from None
    if len(obj) != 1:
        raise ValueError("put one word per line")
    ((word, tokens),) = obj.items()
    if not word.strip() or not isinstance(tokens, str) or not tokens.strip():
        raise ValueError("word and phoneme tokens must both be non-empty strings")
    return word.strip(), tokens.strip()


class G2PDictionary:
    """Word → phoneme-token overrides, applied longest match first."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int, int, int] | None = _NEVER_READ
        self._entries: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._errors: list[str] = []
        self.reloads = 0
        self._refresh()

    def _stat(self) -> tuple[int, int, int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows symlinks: a ConfigMap swap shows as a new inode
        except OSError:
            return None
        # ctime too: a chmod that makes an unreadable file readable changes only that.
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _refresh(self) -> None:
        signature = self._stat()
        if signature == self._signature:
            return
        with self._lock:
            signature = self._stat()
            if signature == self._signature:
                return
            if signature is None:
                self._errors = [f"{self.path}: file not found; keeping {len(self._entries)} earlier entries"]
                log.warning("G2P dictionary %s", self._errors[0])
                self._signature = None
                return
            self._load(signature)

    def _load(self, signature: tuple[int, int, int, int, int]) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            self._errors = [f"{self.path}: cannot read it ({exc})"]
            log.warning("G2P dictionary %s", self._errors[0])
            self._signature = signature  # warn once, not on every request, until the file changes
            return
        entries: dict[str, str] = {}
        errors: list[str] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                word, tokens = parse_line(raw)
            except ValueError as exc:
                errors.append(f"{self.path}:{number}: {exc}")
                log.warning("G2P dictionary line skipped: %s", errors[-1])
                continue
            entries[word] = tokens
        words = sorted(entries, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, words))) if words else None
        self._entries, self._errors, self._signature = entries, errors, signature
        self.reloads += 1
        log.info("G2P dictionary %s loaded: %d entries, %d bad lines", self.path, len(entries), len(errors))

    @property
    def entries(self) -> dict[str, str]:
        self._refresh()
        return dict(self._entries)

    @property
    def errors(self) -> list[str]:
        self._refresh()
        return list(self._errors)

    def apply(self, text: str) -> str:
        """Replace every dictionary word in `text` by its phoneme tokens (longest match wins)."""
        self._refresh()
        pattern, entries = self._pattern, self._entries
        if pattern is None:
            return text
        return pattern.sub(lambda m: entries[m.group(0)], text)
