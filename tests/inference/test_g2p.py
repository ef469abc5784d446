"""G2P overrides: both line forms, bad lines reported, hot reload incl. a ConfigMap symlink swap."""

from __future__ import annotations

import os
from importlib import resources

import pytest
from glm_tts_server.g2p import G2PDictionary
from glm_tts_server.pinyin import InvalidPinyin, pinyin_to_tokens, syllable_to_tokens, tokens_to_pinyin


@pytest.mark.parametrize(
    ("syllable", "tokens"),
    [
        ("chóng", "<|CH|><|ONG2|>"),
        ("chong2", "<|CH|><|ONG2|>"),
        ("cuī", "<|C|><|UEI1|>"),
        ("yī", "<|I1|>"),
        ("shí", "<|SH|><|III2|>"),
        ("zì", "<|Z|><|II4|>"),
        ("lǜ", "<|L|><|V4|>"),
        ("xuǎn", "<|X|><|VAN3|>"),
        ("ma", "<|M|><|A5|>"),
        ("er2", "<|ER2|>"),
    ],
)
def test_pinyin_to_upstream_tokens(syllable, tokens):
    assert syllable_to_tokens(syllable) == tokens


@pytest.mark.parametrize("bad", ["", "chong2 qing4", "zhx1", "hello!", "ch7"])
def test_invalid_pinyin(bad):
    with pytest.raises(InvalidPinyin):
        syllable_to_tokens(bad)


def test_tokens_back_to_numbered_pinyin_for_espeak():
    text = "我" + pinyin_to_tokens("chóng qìng yú shí cuī wēn jù") + "好"
    assert tokens_to_pinyin(text) == "我 chong2 qing4 yu2 shi2 cui1 wen1 ju4 好"


def test_every_mandarin_syllable_round_trips_through_tokens():
    from pypinyin.contrib.tone_convert import tone_to_tone3
    from pypinyin.pinyin_dict import pinyin_dict

    syllables = {s for value in pinyin_dict.values() for s in value.split(",")}
    interjections = {"hm", "hng", "m", "n", "ng", "ê"}  # no initial/final split: refused
    checked = 0
    for syllable in sorted(syllables - {"yo", "yō"}):  # "yo" spells like "o" once tokenised
        try:
            tokens = syllable_to_tokens(syllable)
        except InvalidPinyin:
            assert tone_to_tone3(syllable).rstrip("12345").replace("\u0304", "") in interjections, syllable
            continue
        expected = tone_to_tone3(syllable, neutral_tone_with_five=True).replace("ü", "v")
        assert tokens_to_pinyin(tokens).replace("ü", "v") == expected, (syllable, tokens)
        checked += 1
    assert checked > 1400


def _write(path, lines):
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def test_both_forms_load_and_bad_lines_are_reported_by_number(tmp_path, caplog):
    path = tmp_path / "g2p.jsonl"
    _write(
        path,
        [
            '{"弦": "<|X|><|IAN2|>"}',
            '{"word": "重庆", "pinyin": "chóng qìng"}',
            "# a comment",
            "{not json",
            '{"word": "重庆", "pinyin": "chóng"}',
            '{"word": "行", "pinyin": "hang9"}',
            '{"a": "x", "b": "y"}',
        ],
    )
    g2p = G2PDictionary(path)
    assert g2p.entries == {"弦": "<|X|><|IAN2|>", "重庆": "<|CH|><|ONG2|><|Q|><|ING4|>"}
    errors = g2p.errors
    assert [e.split(": ")[0].rsplit(":", 1)[1] for e in errors] == ["4", "5", "6", "7"]
    assert "1 Chinese character(s)" not in errors[1] and "2 Chinese character(s)" in errors[1]
    assert "g2p.jsonl:4" in caplog.text
    assert g2p.apply("去重庆弹弦") == "去<|CH|><|ONG2|><|Q|><|ING4|>弹<|X|><|IAN2|>"


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


def test_vanished_file_keeps_last_good_entries(tmp_path):
    path = tmp_path / "g2p.jsonl"
    _write(path, ['{"word": "行", "pinyin": "xíng"}'])
    g2p = G2PDictionary(path)
    path.unlink()
    assert g2p.apply("行") == "<|X|><|ING2|>"
    assert "file not found" in g2p.errors[0]


def test_shipped_sample_dictionary_loads_without_errors():
    sample = resources.files("glm_tts_server") / "data" / "g2p_sample.jsonl"
    with resources.as_file(sample) as path:
        g2p = G2PDictionary(path)
        assert g2p.errors == []
        assert g2p.apply("重庆银行") == "<|CH|><|ONG2|><|Q|><|ING4|><|IN2|><|H|><|ANG2|>"
