"""Text planning: script detection, tags, script runs, sentence splitting, long-sentence cuts, segments.

Every test states the exact result (segments, languages, boundaries, messages): the planner decides
what the model reads in which language, so "the pieces join back" alone would let a wrong split pass.
"""

from __future__ import annotations

import pytest
from glm_tts_server.backends.base import Segment
from glm_tts_server.text import (
    DEFAULT_MAX_SENTENCE_CHARS,
    InvalidText,
    TaggedRun,
    language_runs,
    parse_tags,
    plan_segments,
    script_language,
    sentences,
    split_by_script,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def _flat(groups):
    return [(seg.text, seg.language) for group in groups for seg in group]


# --- script detection: each Unicode range at both ends and just outside ---------------------------


@pytest.mark.parametrize(
    ("codepoint", "language"),
    [
        # CJK Unified Ideographs
        (0x4E00, "zh"),
        (0x6C49, "zh"),  # 汉
        (0x9FFF, "zh"),
        (0x4DFF, None),  # Yijing hexagram symbol, between extension A and the main block
        (0xA000, None),  # Yi syllable: a letter, but neither Han nor Latin
        # CJK Extension A
        (0x3400, "zh"),
        (0x4DBF, "zh"),
        (0x33FF, None),  # CJK compatibility square
        (0x4DC0, None),
        # CJK Extensions B-H (supplementary planes)
        (0x20000, "zh"),
        (0x2A6D6, "zh"),
        (0x323AF, "zh"),
        (0x1FFFF, None),
        (0x323B0, None),
        # CJK Compatibility Ideographs
        (0xF900, "zh"),
        (0xFAFF, "zh"),
        (0xF8FF, None),  # private use
        (0xFB00, None),  # Latin ligature ff: alphabetic, but outside the Latin ranges
        # CJK Radicals Supplement and Kangxi Radicals
        (0x2E80, "zh"),
        (0x2FDF, "zh"),
        (0x2E7F, None),
        (0x2FE0, None),
        # Hiragana and Katakana are read by the Chinese front end
        (0x3040, "zh"),
        (0x3042, "zh"),  # あ
        (0x30AB, "zh"),  # カ
        (0x30FF, "zh"),
        (0x303F, None),
        (0x3100, None),
        # ASCII and Latin-1/Extended letters
        (ord("a"), "en"),
        (ord("Z"), "en"),
        (0x00C0, "en"),  # À
        (0x00E9, "en"),  # é
        (0x024F, "en"),  # ɏ, the last Latin Extended-B letter
        (0x00AA, None),  # ª: alphabetic, but below the Latin-1 letters
        (0x00B5, None),  # µ
        (0x00BF, None),  # ¿
        (0x00D7, None),  # ×, inside the Latin-1 range but not a letter
        (0x0250, None),  # ɐ, IPA
        (0x03B1, None),  # α
        (0x042F, None),  # Я
        # digits, spaces and punctuation are neutral
        (ord("7"), None),
        (0x0663, None),  # Arabic-Indic digit three
        (ord(" "), None),
        (ord("."), None),
        (ord("，"), None),
        (ord("。"), None),
        (ord("\n"), None),
    ],
    ids=lambda value: f"U+{value:04X}" if isinstance(value, int) else str(value),
)
def test_script_language_by_unicode_range(codepoint, language):
    assert script_language(chr(codepoint)) == language


# --- tags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("", []),
        ("plain 文本", [TaggedRun("plain 文本", None)]),
        ("<zh>你好</zh>", [TaggedRun("你好", "zh")]),
        ("<ZH>你好</Zh>", [TaggedRun("你好", "zh")]),
        ("<en>Hello 世界</en>", [TaggedRun("Hello 世界", "en")]),
        (
            "a<en>b</en>c<zh>d</zh>e",
            [
                TaggedRun("a", None),
                TaggedRun("b", "en"),
                TaggedRun("c", None),
                TaggedRun("d", "zh"),
                TaggedRun("e", None),
            ],
        ),
        ("<en></en>x", [TaggedRun("x", None)]),
        ("x <3 y > z <1>", [TaggedRun("x <3 y > z <1>", None)]),
    ],
    ids=["empty", "untagged", "zh", "case-insensitive", "en", "several", "empty-tag", "not-tags"],
)
def test_parse_tags_splits_at_language_tags(text, runs):
    assert parse_tags(text) == runs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<fr>bonjour</fr>",
            "unknown tag <fr> at character 0: only <zh>…</zh> and <en>…</en> are supported",
        ),
        (
            "ok </De>",
            "unknown tag </De> at character 3: only <zh>…</zh> and <en>…</en> are supported",
        ),
        ("abc <zh>中文", "<zh> at character 4 is never closed: add </zh>"),
        ("<en>a</en> b <zh>c", "<zh> at character 13 is never closed: add </zh>"),
        ("abc</en>", "</en> at character 3 closes nothing open: expected no closing tag"),
        ("<en>a</en></en>", "</en> at character 10 closes nothing open: expected no closing tag"),
        ("<zh>中文</en>", "</en> at character 6 closes nothing open: expected </zh>"),
        (
            "<zh>中<en>x</en></zh>",
            "<en> at character 5 opens inside <zh> (opened at character 0): close it first, tags do not nest",
        ),
        (
            "x<en>a<en>b</en></en>",
            "<en> at character 6 opens inside <en> (opened at character 1): close it first, tags do not nest",
        ),
    ],
    ids=[
        "unknown",
        "unknown-closing",
        "unclosed",
        "unclosed-after-a-closed-one",
        "stray-close",
        "closed-twice",
        "mismatched-close",
        "nested",
        "nested-same",
    ],
)
def test_bad_tags_say_where_and_what_to_fix(text, message):
    with pytest.raises(InvalidText) as err:
        parse_tags(text)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)  # callers treat it as a bad request


def test_tags_set_the_language_even_against_the_script():
    assert language_runs("<en>Hello</en><zh>world</zh>") == [("Hello", "en"), ("world", "zh")]


# --- script runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("", []),
        ("Hi 你好 ok", [("Hi ", "en"), ("你好 ", "zh"), ("ok", "en")]),
        (" (3) Hi", [(" (3) Hi", "en")]),
        ("「你好」, friend!", [("「你好」, ", "zh"), ("friend!", "en")]),
        ("ひらがなとカタカナ", [("ひらがなとカタカナ", "zh")]),
        ("Café über", [("Café über", "en")]),
        ("123", [("123", "en")]),
    ],
    ids=["empty", "alternating", "leading-neutral", "brackets", "kana", "latin-1", "neutral-only"],
)
def test_split_by_script_attaches_neutral_characters(text, runs):
    assert split_by_script(text) == runs


def test_split_by_script_gives_neutral_only_text_the_default_language():
    assert split_by_script("2024，", "zh") == [("2024，", "zh")]
    assert split_by_script("2024，", "en") == [("2024，", "en")]


def test_untagged_mixed_text_splits_by_script_with_neutral_characters_attached():
    runs = language_runs("我有3个iPhone 15，很好。")
    assert runs == [("我有3个", "zh"), ("iPhone 15，", "en"), ("很好。", "zh")]


def test_leading_neutral_characters_join_the_first_run():
    assert language_runs("2024年") == [("2024年", "zh")]
    assert language_runs("42") == [("42", "en")]
    assert language_runs("，。") == [("，。", "en")]


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("<zh>你好</zh> 2024", [("你好", "zh"), (" 2024", "zh")]),
        ("<zh>中文</zh>123", [("中文", "zh"), ("123", "zh")]),
        ("<en>Hi</en> 2024", [("Hi", "en"), (" 2024", "en")]),
        ("<en>ab</en><zh>中文</zh> 42", [("ab", "en"), ("中文", "zh"), (" 42", "zh")]),
        ("<en>abc</en><zh>中文</zh> 42", [("abc", "en"), ("中文", "zh"), (" 42", "en")]),
    ],
    ids=["zh-tagged", "zh-tagged-no-space", "en-tagged", "tie-goes-to-zh", "more-latin"],
)
def test_neutral_only_runs_take_the_language_of_the_words_not_of_the_tag_names(text, runs):
    # Numbers after a tagged run are read in the text's dominant script; the letters of the tags
    # themselves (<zh>, </zh>) are markup and must not tip the balance to English.
    assert language_runs(text) == runs


# --- sentences ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("", []),
        ("Hi.", [("Hi.", True)]),
        ("no end", [("no end", False)]),
        ("Hi.   ", [("Hi.", True), ("   ", False)]),
        (
            "Pi is 3.14. Really? 是的！好；\nnext line",
            [
                ("Pi is 3.14.", True),
                (" Really?", True),
                (" 是的！", True),
                ("好；\n", True),
                ("next line", False),
            ],
        ),
        (
            "第一句。第二句！第三句？Fourth; fifth. Sixth",
            [
                ("第一句。", True),
                ("第二句！", True),
                ("第三句？", True),
                ("Fourth;", True),
                (" fifth.", True),
                (" Sixth", False),
            ],
        ),
        ("e.g.x is 3.14 ok.", [("e.g.x is 3.14 ok.", True)]),
        ("Wait... what", [("Wait...", True), (" what", False)]),
        ("Really?!Yes", [("Really?!", True), ("Yes", False)]),
        ('He said "Go!" Then left.', [('He said "Go!"', True), (" Then left.", True)]),
        ("他说：“好。”然后呢", [("他说：“好。”", True), ("然后呢", False)]),
        ("（好！）再见", [("（好！）", True), ("再见", False)]),
        ("a\n\nb", [("a\n\n", True), ("b", False)]),
        ("结束；\n\n下一行", [("结束；\n\n", True), ("下一行", False)]),
    ],
    ids=[
        "empty",
        "one",
        "unterminated",
        "trailing-spaces",
        "decimals-and-newline",
        "chinese-and-ascii",
        "abbreviation",
        "ellipsis",
        "mixed-marks",
        "ascii-quote",
        "chinese-quote",
        "chinese-bracket",
        "blank-lines",
        "newlines-after-mark",
    ],
)
def test_sentences_end_at_punctuation_and_newlines(text, pieces):
    assert sentences(text) == pieces


@pytest.mark.parametrize(
    ("text", "max_chars", "pieces"),
    [
        ("ab，cd", 5, ["ab，cd"]),  # exactly the limit: not cut
        ("ab，cd，efghij", 7, ["ab，cd，", "efghij"]),  # the last comma within the limit
        ("ab cd，efgh", 6, ["ab cd，", "efgh"]),  # a comma exactly at the limit
        ("a b，cdefg", 6, ["a b，", "cdefg"]),  # a comma wins over a later space
        ("one two three", 9, ["one two ", "three"]),  # no comma: the last space within the limit
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # neither: hard cuts
        ("abcdef，gh", 4, ["abcd", "ef，", "gh"]),  # the comma is past the limit: hard cut first
        ("，abcdefg", 4, ["，", "abcd", "efg"]),  # a leading comma is a cut of its own
        ("abcd，", 4, ["abcd", "，"]),  # a comma at the very end is no cut point
    ],
    ids=[
        "at-limit",
        "last-comma",
        "comma-at-limit",
        "comma-before-space",
        "space",
        "hard",
        "comma-too-late",
        "leading-comma",
        "trailing-comma",
    ],
)
def test_long_sentence_is_cut_at_commas_then_spaces_then_anywhere(text, max_chars, pieces):
    assert [p for p, _ in sentences(text, max_chars)] == pieces


@pytest.mark.parametrize("mark", ["，", "、", ",", ":", "："])
def test_every_soft_break_mark_is_a_cut_point(mark):
    assert [p for p, _ in sentences(f"ab{mark}cdef", 5)] == [f"ab{mark}", "cdef"]


def test_cut_pieces_end_a_sentence_except_the_unterminated_tail():
    assert sentences("abcdefgh", 3) == [("abc", True), ("def", True), ("gh", False)]
    assert sentences("abcdefgh.", 3) == [("abc", True), ("def", True), ("gh.", True)]
    assert sentences("ab cd. ef", 3) == [("ab ", True), ("cd.", True), (" ef", False)]


def test_default_sentence_limit_is_120_characters():
    assert DEFAULT_MAX_SENTENCE_CHARS == 120
    assert sentences("x" * 120) == [("x" * 120, False)]
    assert sentences("x" * 121) == [("x" * 120, True), ("x", False)]
    assert plan_segments("x" * 121) == [[Segment("x" * 120, "en")], [Segment("x", "en")]]


# --- segment planning -----------------------------------------------------------------------------


def test_plan_groups_sentences_and_keeps_punctuation_with_its_words():
    groups = plan_segments("你好，我喜欢Python编程。It works!")
    assert groups == [
        [Segment("你好，我喜欢", "zh"), Segment("Python", "en"), Segment("编程。", "zh")],
        [Segment("It works!", "en")],
    ]


def test_plan_gives_each_sentence_its_own_group():
    assert plan_segments("你好。How are you? 我很好！Thanks.\nBye") == [
        [Segment("你好。", "zh")],
        [Segment("How are you?", "en")],
        [Segment("我很好！", "zh")],
        [Segment("Thanks.", "en")],
        [Segment("Bye", "en")],
    ]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\t\n", "。。。", "!? \n"],
    ids=["empty", "spaces", "blank-lines", "marks", "marks-spaces"],
)
def test_plan_of_text_without_words_is_empty(text):
    assert plan_segments(text) == []


def test_plan_drops_whitespace_between_sentences():
    assert plan_segments("Hi.   ") == [[Segment("Hi.", "en")]]
    assert plan_segments("  Hi.  \n\n  Yo  ") == [[Segment("Hi.", "en")], [Segment("Yo", "en")]]


def test_plan_attaches_punctuation_after_a_tag_to_the_segment_before_it():
    assert plan_segments("<en>Hello</en>。") == [[Segment("Hello。", "en")]]
    assert plan_segments("<en>Hi</en><zh>你好</zh><en>there</en>!") == [
        [Segment("Hi", "en"), Segment("你好", "zh"), Segment("there!", "en")]
    ]
    assert plan_segments("<zh>你好</zh>，<en>friend</en>。") == [
        [Segment("你好，", "zh"), Segment("friend。", "en")]
    ]


@pytest.mark.parametrize(
    ("text", "max_chars", "groups"),
    [
        ("<en>abcd</en><zh>五六七八</zh>", 8, [["abcd", "五六七八"]]),  # exactly the limit: one group
        ("<en>abcd</en><zh>五六七八</zh>", 7, [["abcd"], ["五六七八"]]),
        ("<en>ab</en><zh>三四</zh><en>ef</en>", 6, [["ab", "三四", "ef"]]),
        ("<en>ab</en><zh>三四</zh><en>ef</en>", 5, [["ab", "三四"], ["ef"]]),
        # after a closed group the count starts again from zero
        ("<en>abcd</en><zh>五六</zh><en>xyz</en>", 5, [["abcd"], ["五六", "xyz"]]),
        ("<en>ab.</en><zh>三四</zh><en>cde</en>", 5, [["ab."], ["三四", "cde"]]),
    ],
    ids=["at-limit", "over", "three-fit", "three-over", "reset-after-cut", "reset-after-sentence"],
)
def test_a_sentence_spanning_runs_is_closed_when_it_grows_past_the_limit(text, max_chars, groups):
    assert [[seg.text for seg in group] for group in plan_segments(text, max_chars)] == groups


def test_long_sentence_is_planned_as_comma_cut_groups():
    clause = "这是一个很长的分句"
    long_zh = "，".join([clause] * 20) + "。"
    four = (clause + "，") * 4
    assert plan_segments(long_zh, max_sentence_chars=40) == [
        [Segment(four, "zh")],
        [Segment(four, "zh")],
        [Segment(four, "zh")],
        [Segment(four, "zh")],
        [Segment(four[:-1] + "。", "zh")],
    ]
    words = " ".join(["word"] * 12)
    assert _flat(plan_segments(words, 30)) == [
        ("word word word word word word", "en"),
        ("word word word word word word", "en"),
    ]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 中文，。.!?\n3")), max_size=200))
def test_plan_never_loses_words(text):
    kept = "".join(seg.text for g in plan_segments(text, 25) for seg in g)
    assert [c for c in kept if c.isalnum()] == [c for c in text if c.isalnum()]
