"""Text planning: language tags, script-based language runs, sentence splitting.

`<zh>…</zh>` / `<en>…</en>` mark language explicitly; untagged text is split by script (Han
characters are Chinese, Latin letters English; digits, spaces and punctuation stay with the
run they sit in, or join the next one at the start). Sentences end at 。！？；.!?; or a newline;
a sentence longer than `max_sentence_chars` is cut at commas, then spaces, then hard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from glm_tts_server.backends.base import Segment

LANGUAGES = ("zh", "en")
DEFAULT_MAX_SENTENCE_CHARS = 120

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_-]*)>")
# A full stop ends a sentence only before whitespace or the end (not in 3.14 or e.g.x).
# `(?<!\.)` starts a run of dots only at its first dot, so a long run that is not followed by
# a space is tried once, not from each of its dots (which was quadratic: 1,999 dots took 40 ms).
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]+[\"'”’」』)）]*|(?<!\.)\.+(?=\s|$)[\"'”’)]*)\n*|\n+")
_SOFT_BREAK = re.compile(r"[，、,:：]")
_SPACE = re.compile(r"\s")


class InvalidText(ValueError):
    """Text the service cannot plan; the message says where and what to fix."""


def is_han(char: str) -> bool:
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x323AF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2E80 <= cp <= 0x2FDF
        or 0x3040 <= cp <= 0x30FF
    )


def is_latin(char: str) -> bool:
    return (char.isascii() and char.isalpha()) or ("\u00c0" <= char <= "\u024f" and char.isalpha())


def script_language(char: str) -> str | None:
    """`zh` for Han, `en` for Latin letters, None for neutral characters (digits, punctuation)."""
    if is_han(char):
        return "zh"
    if is_latin(char):
        return "en"
    return None


@dataclass(frozen=True)
class TaggedRun:
    text: str
    language: str | None  # None: untagged, decide by script


def parse_tags(text: str) -> list[TaggedRun]:
    """Split text at `<zh>`/`<en>` tags; raise InvalidText for unknown, nested or unbalanced tags."""
    runs: list[TaggedRun] = []
    open_tag: tuple[str, int] | None = None
    pos = 0
    for match in _TAG.finditer(text):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in LANGUAGES:
            raise InvalidText(
                f"unknown tag <{match.group(1)}{match.group(2)}> at character {match.start()}: "
                "only <zh>…</zh> and <en>…</en> are supported"
            )
        runs.append(TaggedRun(text[pos : match.start()], open_tag[0] if open_tag else None))
        pos = match.end()
        if not closing:
            if open_tag:
                raise InvalidText(
                    f"<{name}> at character {match.start()} opens inside <{open_tag[0]}> "
                    f"(opened at character {open_tag[1]}): close it first, tags do not nest"
                )
            open_tag = (name, match.start())
        elif not open_tag or open_tag[0] != name:
            expected = f"</{open_tag[0]}>" if open_tag else "no closing tag"
            raise InvalidText(
                f"</{name}> at character {match.start()} closes nothing open: expected {expected}"
            )
        else:
            open_tag = None
    if open_tag:
        raise InvalidText(f"<{open_tag[0]}> at character {open_tag[1]} is never closed: add </{open_tag[0]}>")
    runs.append(TaggedRun(text[pos:], None))
    return [run for run in runs if run.text]


def split_by_script(text: str, default: str = "en") -> list[tuple[str, str]]:
    """Untagged mixed text → [(text, language)] runs; neutral characters attach to neighbours."""
    runs: list[list[str]] = []  # [language, text]
    pending = ""  # neutral characters seen before the first letter
    for char in text:
        lang = script_language(char)
        if lang is None:
            if runs:
                runs[-1][1] += char
            else:
                pending += char
        elif runs and runs[-1][0] == lang:
            runs[-1][1] += char
        else:
            # Trailing spaces/punctuation stay with the run they end; a new run starts clean.
            runs.append([lang, pending + char])
            pending = ""
    if pending:
        runs.append([default, pending])
    return [(t, lang) for lang, t in runs]


def language_runs(text: str) -> list[tuple[str, str]]:
    """Tags first, then script; returns [(text, language)] over the whole input, in order."""
    tagged = parse_tags(text)
    # Neutral-only runs (a number after a tagged run) take the dominant script of the words; the
    # letters of the tags themselves (<zh>, </zh>) are markup and must not count as English.
    words = "".join(run.text for run in tagged)
    han = sum(map(is_han, words))
    latin = sum(map(is_latin, words))
    default = "zh" if han >= latin and han else "en"
    runs: list[tuple[str, str]] = []
    for run in tagged:
        if run.language:
            runs.append((run.text, run.language))
        else:
            runs.extend(split_by_script(run.text, default))
    return runs


def _cut_long(text: str, max_chars: int) -> list[str]:
    """Cut one over-long sentence at commas, then spaces, then anywhere; each break is searched only
    within the next max_chars characters, so the cost stays linear in the text's length."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > max_chars:
        limit = start + max_chars
        for pattern in (_SOFT_BREAK, _SPACE):
            # A break is one character: the last one ending within the limit (never at `start`).
            cut = max((m.end() for m in pattern.finditer(text, start, limit)), default=start)
            if cut > start:
                break
        else:
            cut = limit
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def sentences(text: str, max_chars: int = DEFAULT_MAX_SENTENCE_CHARS) -> list[tuple[str, bool]]:
    """Split at sentence punctuation/newlines → [(piece, ends_sentence)], long pieces cut."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append((text[pos : match.end()], True))
        pos = match.end()
    if pos < len(text):
        pieces.append((text[pos:], False))
    out: list[tuple[str, bool]] = []
    for piece, ends in pieces:
        cut = _cut_long(piece, max_chars)
        out.extend((c, ends or i < len(cut) - 1) for i, c in enumerate(cut))
    return out


def plan_segments(text: str, max_sentence_chars: int = DEFAULT_MAX_SENTENCE_CHARS) -> list[list[Segment]]:
    """Text → sentence groups, each a list of single-language segments, in reading order."""
    groups: list[list[Segment]] = []
    current: list[Segment] = []
    used = 0
    for run_text, lang in language_runs(text):
        for piece, ends in sentences(run_text, max_sentence_chars):
            if used + len(piece) > max_sentence_chars and current:
                groups.append(current)  # a sentence spanning runs grew too long: close it here
                current, used = [], 0
            if piece.strip() and any(ch.isalnum() for ch in piece):
                current.append(Segment(text=piece.strip(), language=lang))
                used += len(piece)
            elif current and piece.strip():
                # Punctuation alone (a trailing "。") belongs to the segment before it.
                last = current[-1]
                current[-1] = Segment(last.text + piece.strip(), last.language, last.phonemes)
            if ends and current:
                groups.append(current)
                current, used = [], 0
    if current:
        groups.append(current)
    return groups
