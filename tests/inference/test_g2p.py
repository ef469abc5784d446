"""G2P overrides: both line forms, bad lines reported, hot reload incl. a ConfigMap symlink swap."""

from __future__ import annotations

import io
import logging
import os
from importlib import resources

import pytest
from glm_tts_server.g2p import G2PDictionary, parse_line

EXPECTED_SHAPE = 'expected {"<word>": "<phoneme tokens>"} or {"word": ..., "pinyin": ...}'
BOTH_NON_EMPTY = "word and phoneme tokens must both be non-empty strings"


def _write(path, lines):
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _logged(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "glm_tts_server.g2p"]


@pytest.mark.parametrize(
    ("raw", "entry"),
    [
        pytest.param('{"弦": "<|X|><|IAN2|>"}', ("弦", "<|X|><|IAN2|>"), id="upstream-form"),
        pytest.param('{" 弦 ": " <|X|><|IAN2|> "}', ("弦", "<|X|><|IAN2|>"), id="upstream-form-stripped"),
        pytest.param(
            '{"行": "<|H|><|ANG2|>行"}', ("行", "<|H|><|ANG2|>行"), id="upstream-tokens-mixed-with-text"
        ),
        pytest.param(
            '{"word": "重庆", "pinyin": "chóng qìng"}',
            ("重庆", "<|CH|><|ONG2|><|Q|><|ING4|>"),
            id="tone-marks",
        ),
        pytest.param(
            '{"word": " 重庆 ", "pinyin": " chong2  qing4 "}',
            ("重庆", "<|CH|><|ONG2|><|Q|><|ING4|>"),
            id="tone-numbers-and-spaces",
        ),
        pytest.param(
            '{"pinyin": "ma1 ma5", "word": "妈妈"}',
            ("妈妈", "<|M|><|A1|><|M|><|A5|>"),
            id="neutral-tone-key-order",
        ),
        pytest.param(
            '{"word": "GPU加速", "pinyin": "jiā sù"}',
            ("GPU加速", "<|J|><|IA1|><|S|><|U4|>"),
            id="latin-letters-need-no-syllable",
        ),
    ],
)
def test_parse_line_accepts_both_forms(raw, entry):
    assert parse_line(raw) == entry


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            "{not json", "invalid JSON (Expecting property name enclosed in double quotes)", id="not-json"
        ),
        pytest.param('["重", "<|ZH|><|ONG4|>"]', EXPECTED_SHAPE, id="list"),
        pytest.param('"重"', EXPECTED_SHAPE, id="string"),
        pytest.param("null", EXPECTED_SHAPE, id="null"),
        pytest.param("{}", EXPECTED_SHAPE, id="empty-object"),
        pytest.param(
            '{"word": "重庆"}', '"pinyin" must be a string such as "chóng" or "chong2"', id="word-alone"
        ),
        pytest.param(
            '{"word": "重", "pinyin": 4}',
            '"pinyin" must be a string such as "chóng" or "chong2"',
            id="pinyin-number",
        ),
        pytest.param('{"pinyin": "chóng qìng"}', '"word" must be a non-empty string', id="pinyin-alone"),
        pytest.param(
            '{"word": 5, "pinyin": "chong2"}', '"word" must be a non-empty string', id="word-number"
        ),
        pytest.param('{"word": "  ", "pinyin": ""}', '"word" must be a non-empty string', id="word-blank"),
        pytest.param(
            '{"word": "重庆", "pinyin": "chóng qìng", "tone": 2, "note": "x"}',
            "unexpected key(s) note, tone next to word/pinyin",
            id="extra-keys-sorted",
        ),
        pytest.param(
            '{"word": "重庆", "pinyin": "chóng"}',
            "'重庆' has 2 Chinese character(s) but pinyin 'chóng' has 1 syllable(s): "
            "give one syllable per character",
            id="too-few-syllables",
        ),
        pytest.param(
            '{"word": "GPU", "pinyin": "ji1"}',
            "'GPU' has 0 Chinese character(s) but pinyin 'ji1' has 1 syllable(s): "
            "give one syllable per character",
            id="no-han-characters",
        ),
        pytest.param(
            '{"word": "行", "pinyin": "hang9"}',
            "'hang9' is not one pinyin syllable: write e.g. 'chóng' or 'chong2'",
            id="bad-tone-number",
        ),
        pytest.param(
            '{"word": "行", "pinyin": "zhx1"}',
            "'zhx1' is not a valid Mandarin syllable (initial 'zh', final '')",
            id="not-a-syllable",
        ),
        pytest.param(
            '{"弦": "<|X|><|IAN2|>", "行": "<|X|><|ING2|>"}', "put one word per line", id="two-words"
        ),
        pytest.param('{"重": 5}', BOTH_NON_EMPTY, id="tokens-number"),
        pytest.param('{"重": "  "}', BOTH_NON_EMPTY, id="tokens-blank"),
        pytest.param('{" ": "<|ZH|><|ONG4|>"}', BOTH_NON_EMPTY, id="word-blank-upstream-form"),
    ],
)
def test_parse_line_says_what_is_wrong(raw, message):
    with pytest.raises(ValueError) as caught:
        parse_line(raw)
    assert str(caught.value) == message


def test_both_forms_load_and_bad_lines_are_reported_by_number(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="glm_tts_server.g2p")
    path = tmp_path / "g2p.jsonl"
    _write(
        path,
        [
            '{"弦": "<|X|><|IAN2|>"}',
            '{"word": "重庆", "pinyin": "chóng qìng"}',
            "# a comment",
            "{not json",
            '{"word": "重庆", "pinyin": "chóng"}',
            "",
            "   # an indented comment after a blank line",
            '{"word": "行", "pinyin": "hang9"}',
            '{"a": "x", "b": "y"}',
        ],
    )
    g2p = G2PDictionary(path)
    assert g2p.entries == {"弦": "<|X|><|IAN2|>", "重庆": "<|CH|><|ONG2|><|Q|><|ING4|>"}
    errors = [
        f"{path}:4: invalid JSON (Expecting property name enclosed in double quotes)",
        f"{path}:5: '重庆' has 2 Chinese character(s) but pinyin 'chóng' has 1 syllable(s): "
        "give one syllable per character",
        f"{path}:8: 'hang9' is not one pinyin syllable: write e.g. 'chóng' or 'chong2'",
        f"{path}:9: put one word per line",
    ]
    assert g2p.errors == errors
    assert _logged(caplog) == [
        *(("WARNING", f"G2P dictionary line skipped: {e}") for e in errors),
        ("INFO", f"G2P dictionary {path} loaded: 2 entries, 4 bad lines"),
    ]
    assert g2p.apply("去重庆弹弦") == "去<|CH|><|ONG2|><|Q|><|ING4|>弹<|X|><|IAN2|>"


def test_a_file_without_usable_lines_leaves_text_alone(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="glm_tts_server.g2p")
    path = tmp_path / "g2p.jsonl"
    _write(path, ["# only comments", "", "  ", "broken"])
    g2p = G2PDictionary(path)
    assert g2p.apply("重庆 GPU，好！") == "重庆 GPU，好！"
    assert g2p.entries == {}
    assert g2p.errors == [f"{path}:4: invalid JSON (Expecting value)"]
    assert _logged(caplog)[-1] == ("INFO", f"G2P dictionary {path} loaded: 0 entries, 1 bad lines")


def test_longest_match_wins(tmp_path):
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "重", "pinyin": "zhòng"}', '{"word": "重庆", "pinyin": "chóng qìng"}'])
    assert G2PDictionary(path).apply("重庆重") == "<|CH|><|ONG2|><|Q|><|ING4|><|ZH|><|ONG4|>"


def test_reloads_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "行", "pinyin": "xíng"}'])
    g2p = G2PDictionary(path)
    assert g2p.apply("行") == "<|X|><|ING2|>"
    _write(path, ['{"word": "行", "pinyin": "háng"}', "broken"])
    assert g2p.apply("行") == "<|H|><|ANG2|>"
    assert len(g2p.errors) == 1 and g2p.reloads == 2
    before = g2p.reloads
    g2p.apply("行")
    assert g2p.reloads == before  # unchanged file: no re-read


def test_configmap_symlink_swap_is_picked_up(tmp_path):
    # kubelet layout: dict.jsonl -> ..data/dict.jsonl, ..data -> ..<timestamp>/ swapped atomically.
    mount = tmp_path / "mount"
    v1, v2 = mount / "..2026_01", mount / "..2026_02"
    v1.mkdir(parents=True)
    v2.mkdir()
    (v1 / "dict.jsonl").write_text('{"word": "长", "pinyin": "cháng"}\n', encoding="utf-8")
    (v2 / "dict.jsonl").write_text('{"word": "长", "pinyin": "zhǎng"}\n', encoding="utf-8")
    (mount / "..data").symlink_to(v1.name)
    (mount / "dict.jsonl").symlink_to("..data/dict.jsonl")
    g2p = G2PDictionary(mount / "dict.jsonl")
    assert g2p.apply("长") == "<|CH|><|ANG2|>"
    tmp_link = mount / "..data_tmp"
    tmp_link.symlink_to(v2.name)
    os.replace(tmp_link, mount / "..data")
    assert g2p.apply("长") == "<|ZH|><|ANG3|>"


def test_vanished_file_keeps_last_good_entries_and_warns_once(tmp_path, caplog):
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "行", "pinyin": "xíng"}', '{"word": "长", "pinyin": "cháng"}'])
    g2p = G2PDictionary(path)
    path.unlink()
    caplog.clear()
    assert g2p.apply("行长") == "<|X|><|ING2|><|CH|><|ANG2|>"
    assert g2p.apply("行") == "<|X|><|ING2|>"
    missing = f"{path}: file not found; keeping 2 earlier entries"
    assert g2p.errors == [missing]
    assert _logged(caplog) == [("WARNING", f"G2P dictionary {missing}")]
    _write(path, ['{"word": "行", "pinyin": "háng"}'])
    assert g2p.apply("行长") == "<|H|><|ANG2|>长"
    assert g2p.errors == []


def test_file_missing_from_the_start_is_reported_and_loads_when_it_appears(tmp_path, caplog):
    path = tmp_path / "g2p.jsonl"
    g2p = G2PDictionary(path)
    assert g2p.apply("重庆") == "重庆"
    assert g2p.entries == {}
    missing = f"{path}: file not found; keeping 0 earlier entries"
    assert g2p.errors == [missing]
    assert _logged(caplog) == [("WARNING", f"G2P dictionary {missing}")]  # once, not per lookup
    assert g2p.reloads == 0
    _write(path, ['{"word": "重庆", "pinyin": "chóng qìng"}'])
    assert g2p.apply("重庆") == "<|CH|><|ONG2|><|Q|><|ING4|>"
    assert g2p.errors == [] and g2p.reloads == 1


def test_unreadable_file_keeps_last_good_entries(tmp_path, caplog):
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "行", "pinyin": "xíng"}'])
    g2p = G2PDictionary(path)
    path.write_bytes(b'\xff{"word": "\xe8\xa1\x8c", "pinyin": "h\xc3\xa1ng"}\n')  # not UTF-8
    caplog.clear()
    assert g2p.apply("行") == "<|X|><|ING2|>"
    unreadable = (
        f"{path}: cannot read it ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"
    )
    assert g2p.errors == [unreadable]
    assert ("WARNING", f"G2P dictionary {unreadable}") in _logged(caplog)
    assert g2p.reloads == 1
    caplog.clear()
    for _ in range(3):  # every request looks the file up: the warning is not repeated until it changes
        assert g2p.apply("行") == "<|X|><|ING2|>"
    assert _logged(caplog) == []
    path.write_text('{"word": "行", "pinyin": "háng"}\n', encoding="utf-8")
    assert g2p.apply("行") == "<|H|><|ANG2|>"
    assert g2p.errors == [] and g2p.reloads == 2


def test_read_as_utf8_even_where_the_locale_default_is_not(tmp_path, monkeypatch):
    # A pod without a UTF-8 locale: Python's default text encoding is then the locale's (here Latin-1).
    real = io.text_encoding
    monkeypatch.setattr(io, "text_encoding", lambda encoding, *args: real(encoding or "latin-1"))
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "重庆", "pinyin": "chóng qìng"}'])
    assert G2PDictionary(path).entries == {"重庆": "<|CH|><|ONG2|><|Q|><|ING4|>"}


def test_shipped_sample_dictionary_loads_without_errors():
    sample = resources.files("glm_tts_server") / "data" / "g2p_sample.jsonl"
    with resources.as_file(sample) as path:
        g2p = G2PDictionary(path)
        assert g2p.errors == []
        assert g2p.apply("重庆银行") == "<|CH|><|ONG2|><|Q|><|ING4|><|IN2|><|H|><|ANG2|>"
