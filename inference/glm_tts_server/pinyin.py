"""Pinyin ⇄ GLM-TTS phoneme tokens.

GLM-TTS phoneme mode spells a Chinese syllable as its initial and its toned final, upper-case,
each wrapped as `<|…|>`: 重 (chóng) → `<|CH|><|ONG2|>`, 衰 (cuī) → `<|C|><|UEI1|>`. Finals use
pypinyin's strict form (`yu` → `V`, `wen` → `UEN`), neutral tone is 5, and `i` after zh/ch/sh/r
is `III`, after z/c/s `II` (upstream `utils/glm_g2p.py`).
"""

from __future__ import annotations

import re

from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

INITIALS = frozenset(
    (
        "b",
        "p",
        "m",
        "f",
        "d",
        "t",
        "n",
        "l",
        "g",
        "k",
        "h",
        "j",
        "q",
        "x",
        "zh",
        "ch",
        "sh",
        "r",
        "z",
        "c",
        "s",
    )
)
FINALS = frozenset(
    (
        "a",
        "ai",
        "an",
        "ang",
        "ao",
        "e",
        "ei",
        "en",
        "eng",
        "er",
        "i",
        "ia",
        "ian",
        "iang",
        "iao",
        "ie",
        "ii",
        "iii",
        "in",
        "ing",
        "io",
        "iong",
        "iou",
        "o",
        "ong",
        "ou",
        "u",
        "ua",
        "uai",
        "uan",
        "uang",
        "uei",
        "uen",
        "ueng",
        "uo",
        "v",
        "van",
        "ve",
        "vn",
    )
)
_SYLLABLE = re.compile(r"^[a-zü\u00e0-\u01dc\u0101-\u01ce]+[1-5]?$")
_TOKEN = re.compile(r"<\|([A-Z]+)([1-5]?)\|>")
# Strict finals back to how pinyin spells them without an initial / after one.
_ZERO_INITIAL = {
    "i": "yi",
    "ia": "ya",
    "ian": "yan",
    "iang": "yang",
    "iao": "yao",
    "ie": "ye",
    "in": "yin",
    "ing": "ying",
    "io": "yo",
    "iong": "yong",
    "iou": "you",
    "u": "wu",
    "ua": "wa",
    "uai": "wai",
    "uan": "wan",
    "uang": "wang",
    "uei": "wei",
    "uen": "wen",
    "ueng": "weng",
    "uo": "wo",
    "ong": "wong",
    "v": "yu",
    "van": "yuan",
    "ve": "yue",
    "vn": "yun",
}
_AFTER_INITIAL = {"iou": "iu", "uei": "ui", "uen": "un", "ii": "i", "iii": "i"}


class InvalidPinyin(ValueError):
    """Not a pinyin syllable; the message says what is expected."""


def syllable_to_tokens(syllable: str) -> str:
    """`chóng` or `chong2` → `<|CH|><|ONG2|>`; raise InvalidPinyin for anything else."""
    text = syllable.strip().lower().replace("u:", "ü")
    if not _SYLLABLE.fullmatch(text):
        raise InvalidPinyin(f"{syllable!r} is not one pinyin syllable: write e.g. 'chóng' or 'chong2'")
    initial = to_initials(text, strict=True)
    final = to_finals_tone3(text, strict=True)  # no digit for the neutral tone (5)
    bare, tone = (final[:-1], final[-1]) if final[-1:].isdigit() else (final, "5")
    if bare.startswith("i") and initial in {"zh", "ch", "sh", "r"}:
        bare = "iii" + bare[1:]
    elif bare.startswith("i") and initial in {"z", "c", "s"}:
        bare = "ii" + bare[1:]
    if (initial and initial not in INITIALS) or bare not in FINALS:
        raise InvalidPinyin(
            f"{syllable!r} is not a valid Mandarin syllable (initial {initial!r}, final {bare!r})"
        )
    tokens = f"<|{initial.upper()}|>" if initial else ""
    return tokens + f"<|{bare.upper()}{tone}|>"


def pinyin_to_tokens(pinyin: str) -> str:
    """Space-separated syllables (`chóng qìng`) → concatenated tokens."""
    syllables = pinyin.split()
    if not syllables:
        raise InvalidPinyin("pinyin is empty: give one syllable per character, e.g. 'chóng qìng'")
    return "".join(syllable_to_tokens(s) for s in syllables)


def tokens_to_pinyin(text: str) -> str:
    """Replace phoneme tokens in `text` with numbered pinyin (`chong2`), other text untouched.

    For engines that read numbered pinyin but not GLM-TTS tokens (eSpeak NG's `cmn` voice).
    """
    out: list[str] = []
    pos = 0
    initial = ""
    for match in _TOKEN.finditer(text):
        between = text[pos : match.start()]
        if between:
            out.append(between)
            initial = ""
        name, tone = match.group(1).lower(), match.group(2)
        pos = match.end()
        if not tone and name in INITIALS:
            initial = name
            continue
        if initial:
            spelled = initial + _AFTER_INITIAL.get(name, name)
            if initial in {"j", "q", "x"} and spelled[1:2] == "v":
                spelled = initial + "u" + spelled[2:]  # ju, que, xuan: ü is written u here
        else:
            spelled = _ZERO_INITIAL.get(name, name)
        out.append(f" {spelled.replace('v', 'ü')}{tone or '5'} ")
        initial = ""
    out.append(text[pos:])
    return re.sub(r" {2,}", " ", "".join(out)).strip()
