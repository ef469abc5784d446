"""The batch JSONL parser on its own: every field's refusal (line number, field, what to fix), the
defaults a line may leave out, the uttid limits at their edges, prompt files, and error order.

The uttid table through the server and the CLI is in test_batch_uttid.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tone_wav
from glm_tts_server.audio import InvalidAudio, read_reference
from glm_tts_server.batch.jsonl import BatchItem, LineError, normalise_uttid, parse_jsonl, uttid_problem


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data directory with one usable prompt and one of each kind of unusable one."""
    base = tmp_path_factory.mktemp("jsonl")
    data = base / "data"
    (data / "prompts" / "a-folder.wav").mkdir(parents=True)
    (data / "prompts" / "good.wav").write_bytes(tone_wav(4.0))
    (data / "prompts" / "short.wav").write_bytes(tone_wav(1.0))
    (data / "prompts" / "silent.wav").write_bytes(tone_wav(4.0, amplitude=0.0))
    (data / "prompts" / "notes.wav").write_text("not audio")
    (base / "outside.wav").write_bytes(tone_wav(4.0))
    (data / "prompts" / "sneaky.wav").symlink_to(base / "outside.wav")
    return data


def line(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


def only_error(text: str, data_dir: Path) -> LineError:
    items, errors = parse_jsonl(text, data_dir)
    assert items == []
    (error,) = errors
    return error


# --- uttid -----------------------------------------------------------------------------------------

UTTID_PROBLEMS = [
    ("", "is empty"),
    ("a" * 128, None),
    ("a" * 129, "is too long (at most 128 characters and 200 UTF-8 bytes)"),
    ("é" * 100, None),  # 100 characters, exactly 200 UTF-8 bytes
    ("é" * 100 + "a", "is too long (at most 128 characters and 200 UTF-8 bytes)"),  # 201 bytes
    ("e\u0301", "is not in Unicode NFC form: normalise it (e.g. write é as one character)"),
    ("a b", "contains whitespace: use letters, digits, '_', '-' or '.'"),
    ("a\u3000b", "contains whitespace: use letters, digits, '_', '-' or '.'"),  # ideographic space
    ("a/b", "contains a path separator: use letters, digits, '_', '-' or '.'"),
    ("a\\b", "contains a path separator: use letters, digits, '_', '-' or '.'"),
    ("a:b", "contains ':': use letters, digits, '_', '-' or '.'"),
    ("a\x00b", "contains '\\x00': use letters, digits, '_', '-' or '.'"),
    ("a/b c", "contains a path separator: use letters, digits, '_', '-' or '.'"),  # first one wins
    (".wav", "must start with a letter or a digit (no dot files, nothing like an option)"),
    ("-rf", "must start with a letter or a digit (no dot files, nothing like an option)"),
    ("_x", "must start with a letter or a digit (no dot files, nothing like an option)"),
    ("x_-.9", None),
    ("9", None),
    ("语音", None),
]


@pytest.mark.parametrize(("uttid", "problem"), UTTID_PROBLEMS, ids=[ascii(c[0])[:20] for c in UTTID_PROBLEMS])
def test_uttid_problem(uttid, problem):
    assert uttid_problem(uttid) == problem


NORMALISED = [
    ("u1", "u1"),
    (0, "0"),
    (12, "12"),
    (10**20, "100000000000000000000"),
]


@pytest.mark.parametrize(("value", "expected"), NORMALISED, ids=[repr(c[0]) for c in NORMALISED])
def test_normalise_uttid_accepts(value, expected):
    assert normalise_uttid(value) == expected


MISSING = "missing uttid: give every line a unique id (it names the output WAV)"
REFUSED_UTTIDS = [
    (None, MISSING),
    ("", MISSING),
    (-1, "uttid -1 must be a string or a non-negative integer"),
    (True, "uttid True must be a string or a non-negative integer"),
    (False, "uttid False must be a string or a non-negative integer"),
    (1.0, "uttid 1.0 must be a string or a non-negative integer"),
    (["a"], "uttid ['a'] must be a string or a non-negative integer"),
    ({"id": 1}, "uttid {'id': 1} must be a string or a non-negative integer"),
    ("../x", "uttid '../x' contains a path separator: use letters, digits, '_', '-' or '.'"),
]


@pytest.mark.parametrize(("value", "message"), REFUSED_UTTIDS, ids=[repr(c[0]) for c in REFUSED_UTTIDS])
def test_normalise_uttid_refuses_with_what_to_fix(value, message):
    with pytest.raises(ValueError) as raised:
        normalise_uttid(value)
    assert str(raised.value) == message


# --- one line, field by field -----------------------------------------------------------------------


def audio_refusal(data: bytes) -> str:
    """What the audio checks say about `data` (its decoder's words depend on the libsndfile version)."""
    with pytest.raises(InvalidAudio) as raised:
        read_reference(data)
    return str(raised.value)


NOT_AUDIO = audio_refusal(b"not audio")
PROMPT_NEEDS_TEXT = "prompt_speech needs prompt_text: the exact transcript of the prompt audio"
NOT_A_PATH = "prompt_speech must be a path (string) to a WAV/FLAC file under the data directory"
OUTSIDE = "resolves outside the data directory: copy the file under it and use a relative path"
NO_TEXT = "missing syn_text: give the text to synthesise"
NOT_AN_OBJECT = "expected a JSON object with uttid and syn_text"
FIX_JSON = "write one JSON object per line"


def prompted(prompt_speech, prompt_text="t") -> str:
    """A line with a prompt; every other field valid."""
    return line(uttid="u1", syn_text="Hi.", prompt_text=prompt_text, prompt_speech=prompt_speech)


def case(id, raw, message, uttid="u1"):
    return pytest.param(raw, message, uttid, id=id)


LINE_ERRORS = [
    case("not-json", '{"uttid": "u1", syn_text}',
         f"invalid JSON (Expecting property name enclosed in double quotes at column 17): {FIX_JSON}", None),
    case("comment", "# a comment", f"invalid JSON (Expecting value at column 1): {FIX_JSON}", None),
    case("array", '["u1", "text"]', NOT_AN_OBJECT, None),
    case("string", '"u1"', NOT_AN_OBJECT, None),
    case("number", "12", NOT_AN_OBJECT, None),
    case("no-uttid", line(syn_text="Hi."), MISSING, None),
    case("bad-uttid", line(uttid="a b", syn_text="Hi."),
         "uttid 'a b' contains whitespace: use letters, digits, '_', '-' or '.'", "a b"),
    case("int-uttid-empty-text", line(uttid=7, syn_text=""), NO_TEXT, "7"),
    case("no-syn_text", line(uttid="u1"), NO_TEXT),
    case("blank-syn_text", line(uttid="u1", syn_text=" \t"), NO_TEXT),
    case("number-syn_text", line(uttid="u1", syn_text=5), NO_TEXT),
    case("prompt-without-text", line(uttid="u1", syn_text="Hi.", prompt_speech="prompts/good.wav"),
         PROMPT_NEEDS_TEXT),
    case("prompt-blank-text", prompted("prompts/good.wav", prompt_text="  "), PROMPT_NEEDS_TEXT),
    case("prompt-number-text", prompted("prompts/good.wav", prompt_text=3), PROMPT_NEEDS_TEXT),
    case("prompt-not-string", prompted(5), NOT_A_PATH),
    case("prompt-blank", prompted("  "), NOT_A_PATH),
    case("prompt-dot-dot", prompted("../outside.wav"), f"prompt_speech '../outside.wav' {OUTSIDE}"),
    case("prompt-absolute", prompted("/etc/hostname"), f"prompt_speech '/etc/hostname' {OUTSIDE}"),
    case("prompt-symlink-out", prompted("prompts/sneaky.wav"),
         f"prompt_speech 'prompts/sneaky.wav' {OUTSIDE}"),
    case("prompt-missing", prompted("prompts/none.wav"),
         "prompt_speech 'prompts/none.wav': no such file under the data directory"),
    case("prompt-folder", prompted("prompts/a-folder.wav"),
         "prompt_speech 'prompts/a-folder.wav': cannot be read (Is a directory)"),
    case("prompt-not-audio", prompted("prompts/notes.wav"),
         f"prompt_speech 'prompts/notes.wav': {NOT_AUDIO}"),
    case("prompt-too-short", prompted("prompts/short.wav"),
         "prompt_speech 'prompts/short.wav': reference audio lasts 1.00 s: it must last between "
         "3 and 10 s; trim or re-record it"),
    case("prompt-silent", prompted("prompts/silent.wav"),
         "prompt_speech 'prompts/silent.wav': reference audio is silent (RMS 0.00000): "
         "record clear speech at a normal level"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "message", "uttid"), LINE_ERRORS)
def test_a_bad_line_says_what_to_fix(data_dir, raw, message, uttid):
    error = only_error(raw, data_dir)
    assert error == LineError(1, message, uttid)
    assert str(error) == f"line 1: {message}"


def test_the_smallest_line_leaves_the_prompt_out(data_dir):
    items, errors = parse_jsonl(line(uttid="u1", syn_text="Hello."), data_dir)
    assert errors == []
    assert items == [BatchItem(1, "u1", "Hello.")]
    assert (items[0].prompt_text, items[0].prompt_speech, items[0].prompt_speech_rel) == (None, None, None)
    assert items[0].to_json() == '{"uttid": "u1", "syn_text": "Hello."}'


@pytest.mark.parametrize("prompt_speech", [None, ""], ids=["null", "empty"])
def test_an_empty_prompt_speech_means_no_prompt_and_drops_its_transcript(data_dir, prompt_speech):
    raw = line(uttid="u1", syn_text="Hello.", prompt_text="A transcript.", prompt_speech=prompt_speech)
    items, errors = parse_jsonl(raw, data_dir)
    assert errors == [] and items == [BatchItem(1, "u1", "Hello.")]


def test_a_line_with_a_prompt(data_dir):
    raw = line(
        uttid=12,
        syn_text="你好。",
        prompt_text="提示。",
        prompt_speech="prompts/../prompts/good.wav",
        extra=1,
    )
    items, errors = parse_jsonl(raw, data_dir)
    assert errors == []
    assert items == [
        BatchItem(
            1,
            "12",
            "你好。",
            "提示。",
            (data_dir / "prompts" / "good.wav").resolve(),
            "prompts/../prompts/good.wav",
        )
    ]
    # Shards are written in upstream form: the path as the user wrote it, unknown keys dropped.
    assert items[0].to_json() == (
        '{"uttid": "12", "syn_text": "你好。", "prompt_text": "提示。", '
        '"prompt_speech": "prompts/../prompts/good.wav"}'
    )


def test_text_is_kept_as_written(data_dir):
    items, _ = parse_jsonl(
        line(uttid="u1", syn_text="  Hello.  ", prompt_text=" t ", prompt_speech="prompts/good.wav"), data_dir
    )
    assert (items[0].syn_text, items[0].prompt_text) == ("  Hello.  ", " t ")


# --- the whole file ---------------------------------------------------------------------------------


def test_every_line_is_checked_and_errors_come_in_line_order(data_dir):
    text = "\n".join(
        [
            line(uttid="u1", syn_text="One."),  # 1
            "",  # 2: blank lines are skipped but still counted
            "{oops",  # 3
            line(uttid="u2", syn_text="Two.", prompt_text="t", prompt_speech="prompts/good.wav"),  # 4
            "   ",  # 5
            line(uttid="u1", syn_text="Again."),  # 6
            line(uttid="u3"),  # 7
            line(uttid="u4", syn_text="Four.", prompt_text="t", prompt_speech="prompts/short.wav"),  # 8
            line(uttid=5, syn_text="Five."),  # 9
        ]
    )
    items, errors = parse_jsonl(text, data_dir)
    assert [(i.line, i.uttid) for i in items] == [(1, "u1"), (4, "u2"), (9, "5")]
    assert [str(e) for e in errors] == [
        "line 3: invalid JSON (Expecting property name enclosed in double quotes at column 2): "
        "write one JSON object per line",
        "line 6: duplicate uttid 'u1' (first used on line 1): make it unique",
        "line 7: missing syn_text: give the text to synthesise",
        "line 8: prompt_speech 'prompts/short.wav': reference audio lasts 1.00 s: it must last "
        "between 3 and 10 s; trim or re-record it",
    ]
    assert [e.uttid for e in errors] == [None, "u1", "u3", "u4"]


def test_a_refused_line_still_claims_its_uttid(data_dir):
    # The first line names the uttid even though it is refused, so both are reported at once.
    text = "\n".join([line(uttid="u1"), line(uttid="u1", syn_text="Hi.")])
    items, errors = parse_jsonl(text, data_dir)
    assert items == []
    assert [str(e) for e in errors] == [
        "line 1: missing syn_text: give the text to synthesise",
        "line 2: duplicate uttid 'u1' (first used on line 1): make it unique",
    ]


def test_uttids_are_compared_exactly(data_dir):
    text = "\n".join(line(uttid=u, syn_text="Hi.") for u in ("U1", "u1", 1, "1"))
    items, errors = parse_jsonl(text, data_dir)
    assert [i.uttid for i in items] == ["U1", "u1", "1"]
    assert [str(e) for e in errors] == ["line 4: duplicate uttid '1' (first used on line 3): make it unique"]


def test_a_prompt_used_by_several_lines_gives_each_the_same_verdict(data_dir):
    good = [
        line(uttid=f"g{n}", syn_text="Hi.", prompt_text="t", prompt_speech="prompts/good.wav")
        for n in range(3)
    ]
    bad = [
        line(uttid=f"b{n}", syn_text="Hi.", prompt_text="t", prompt_speech="prompts/notes.wav")
        for n in range(2)
    ]
    items, errors = parse_jsonl([good[0], bad[0], good[1], bad[1], good[2]], data_dir)
    assert [(i.line, i.uttid) for i in items] == [(1, "g0"), (3, "g1"), (5, "g2")]
    assert {i.prompt_speech for i in items} == {(data_dir / "prompts" / "good.wav").resolve()}
    assert [(e.line, e.message) for e in errors] == [
        (n, f"prompt_speech 'prompts/notes.wav': {NOT_AUDIO}")
        for n in (2, 4)
    ]  # fmt: skip


def test_lines_may_be_given_as_an_iterable(data_dir):
    lines = iter([line(uttid="a", syn_text="A."), "", line(uttid="b", syn_text="B.")])
    items, errors = parse_jsonl(lines, data_dir)
    assert errors == [] and [(i.line, i.uttid) for i in items] == [(1, "a"), (3, "b")]


def test_windows_line_endings_and_a_final_newline(data_dir):
    text = line(uttid="a", syn_text="A.") + "\r\n" + line(uttid="b", syn_text="B.") + "\r\n"
    items, errors = parse_jsonl(text, data_dir)
    assert errors == [] and [(i.line, i.uttid, i.syn_text) for i in items] == [(1, "a", "A."), (2, "b", "B.")]


@pytest.mark.parametrize("text", ["", "\n\n", "  \n\t\n"], ids=["empty", "newlines", "whitespace"])
def test_an_empty_file_has_no_items_and_no_errors(data_dir, text):
    assert parse_jsonl(text, data_dir) == ([], [])


def test_the_data_directory_may_be_relative_or_a_symlink(data_dir, tmp_path, monkeypatch):
    raw = line(uttid="u1", syn_text="Hi.", prompt_text="t", prompt_speech="prompts/good.wav")
    expected = (data_dir / "prompts" / "good.wav").resolve()
    monkeypatch.chdir(data_dir.parent)
    items, errors = parse_jsonl(raw, data_dir.name)
    assert errors == [] and items[0].prompt_speech == expected
    link = tmp_path / "data-link"
    link.symlink_to(data_dir)
    items, errors = parse_jsonl(raw, str(link))
    assert errors == [] and items[0].prompt_speech == expected
