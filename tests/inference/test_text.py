"""Text planning: tags, script runs, sentence splitting and the long-sentence fallback."""

from __future__ import annotations

import pytest
from glm_tts_server.text import InvalidText, language_runs, parse_tags, plan_segments, sentences
from hypothesis import given, settings
from hypothesis import strategies as st


def _flat(groups):
    return [(seg.text, seg.language) for group in groups for seg in group]


def test_tags_set_the_language_even_against_the_script():
    runs = language_runs("<en>Hello</en><zh>world</zh>")
    assert runs == [("Hello", "en"), ("world", "zh")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<fr>bonjour</fr>", "unknown tag <fr> at character 0"),
        ("abc <zh>中文", "<zh> at character 4 is never closed"),
        ("abc</en>", "</en> at character 3 closes nothing open"),
        ("<zh>中<en>x</en></zh>", "<en> at character 5 opens inside <zh>"),
        ("<zh>中文</en>", "</en> at character 6 closes nothing open: expected </zh>"),
    ],
)
def test_bad_tags_report_position(text, fragment):
    with pytest.raises(InvalidText) as err:
        parse_tags(text)
    assert fragment in str(err.value)


def test_untagged_mixed_text_splits_by_script_with_neutral_characters_attached():
    runs = language_runs("我有3个iPhone 15，很好。")
    assert runs == [("我有3个", "zh"), ("iPhone 15，", "en"), ("很好。", "zh")]


def test_leading_neutral_characters_join_the_first_run():
    assert language_runs("2024年") == [("2024年", "zh")]
    assert language_runs("42") == [("42", "en")]


def test_sentences_split_at_punctuation_and_newlines_not_decimals():
    pieces = [p for p, _ in sentences("Pi is 3.14. Really? 是的！好；\nnext line")]
    assert pieces == ["Pi is 3.14.", " Really?", " 是的！", "好；\n", "next line"]


def test_long_sentence_falls_back_to_commas_then_spaces():
    long_zh = "，".join(["这是一个很长的分句"] * 20) + "。"
    groups = plan_segments(long_zh, max_sentence_chars=40)
    assert len(groups) > 1
    assert all(len(seg.text) <= 40 for g in groups for seg in g)
    assert "".join(seg.text for g in groups for seg in g) == long_zh
    words = " ".join(["word"] * 60)
    assert all(len(s.text) <= 30 for g in plan_segments(words, 30) for s in g)


def test_plan_groups_sentences_and_keeps_punctuation_with_its_words():
    groups = plan_segments("你好，我喜欢Python编程。It works!")
    assert _flat(groups) == [("你好，我喜欢", "zh"), ("Python", "en"), ("编程。", "zh"), ("It works!", "en")]
    assert [len(g) for g in groups] == [3, 1]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 中文，。.!?\n3")), max_size=200))
def test_plan_never_loses_words(text):
    kept = "".join(seg.text for g in plan_segments(text, 25) for seg in g)
    assert [c for c in kept if c.isalnum()] == [c for c in text if c.isalnum()]
