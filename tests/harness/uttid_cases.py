"""The uttid rule as one table, run through every entry point of the batch JSONL parser.

(`/v1/batch`, `glm-tts-server batch run`, the Tekton batch plan Task.) Each case: the JSON value of
`uttid`, the file stem it must produce (None = the line is refused), and words of the refusal.
"""

from __future__ import annotations

import json

UTTID_CASES: list[tuple[object, str | None, str]] = [
    ("u1", "u1", ""),
    ("utt.01", "utt.01", ""),
    ("A-b_c", "A-b_c", ""),
    (12, "12", ""),  # a JSON integer names the file by its digits
    (0, "0", ""),
    ("语音_1", "语音_1", ""),  # letters of any script
    ("Zoë-2", "Zoë-2", ""),
    ("a" * 128, "a" * 128, ""),
    ("utt 01", None, "contains whitespace"),
    ("tab\tid", None, "contains whitespace"),
    ("../u9", None, "contains a path separator"),
    ("a/b", None, "contains a path separator"),
    ("a\\b", None, "contains a path separator"),
    (".hidden", None, "no dot files"),
    ("-rf", None, "must start with a letter or a digit"),
    ("_x", None, "must start with a letter or a digit"),
    ("a:b", None, "contains ':'"),
    ("x\u0000y", None, "contains"),
    ("Zoe\u0308", None, "NFC"),  # the same text as "Zoë", decomposed
    ("a" * 129, None, "too long"),
    ("名" * 67, None, "too long"),  # 67 characters but 201 UTF-8 bytes
    ("", None, "missing uttid"),
    (None, None, "missing uttid"),
    (-3, None, "non-negative integer"),
    (True, None, "non-negative integer"),
    (1.5, None, "non-negative integer"),
    (["a"], None, "non-negative integer"),
]


def case_id(case: tuple[object, str | None, str]) -> str:
    return json.dumps(case[0], ensure_ascii=True)[:24]


def line_for(uttid: object, text: str = "Hello there.") -> str:
    return json.dumps({"uttid": uttid, "syn_text": text}, ensure_ascii=False)
