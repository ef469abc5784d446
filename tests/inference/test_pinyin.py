"""Pinyin <-> GLM-TTS phoneme tokens: syllables, whole words, and numbered pinyin back for eSpeak NG."""

from __future__ import annotations

import pytest
from glm_tts_server.pinyin import InvalidPinyin, pinyin_to_tokens, syllable_to_tokens, tokens_to_pinyin

NOT_ONE = "is not one pinyin syllable: write e.g. 'chóng' or 'chong2'"


@pytest.mark.parametrize(
    ("syllable", "tokens"),
    [
        pytest.param("chóng", "<|CH|><|ONG2|>", id="tone-mark"),
        pytest.param("chong2", "<|CH|><|ONG2|>", id="tone-number"),
        pytest.param(" Chóng ", "<|CH|><|ONG2|>", id="case-and-spaces"),
        pytest.param("cuī", "<|C|><|UEI1|>", id="ui-is-uei"),
        pytest.param("guǐ", "<|G|><|UEI3|>", id="gui"),
        pytest.param("liù", "<|L|><|IOU4|>", id="iu-is-iou"),
        pytest.param("lùn", "<|L|><|UEN4|>", id="un-is-uen"),
        pytest.param("yī", "<|I1|>", id="y-is-no-initial"),
        pytest.param("wēn", "<|UEN1|>", id="w-is-no-initial"),
        pytest.param("yuè", "<|VE4|>", id="yu-is-v"),
        pytest.param("ài", "<|AI4|>", id="zero-initial"),
        pytest.param("ō", "<|O1|>", id="bare-vowel"),
        pytest.param("zhī", "<|ZH|><|III1|>", id="zhi"),
        pytest.param("chī", "<|CH|><|III1|>", id="chi"),
        pytest.param("shí", "<|SH|><|III2|>", id="shi"),
        pytest.param("rì", "<|R|><|III4|>", id="ri"),
        pytest.param("zì", "<|Z|><|II4|>", id="zi"),
        pytest.param("cí", "<|C|><|II2|>", id="ci"),
        pytest.param("sī", "<|S|><|II1|>", id="si"),
        pytest.param("lǜ", "<|L|><|V4|>", id="lv"),
        pytest.param("lu:4", "<|L|><|V4|>", id="u-colon-is-umlaut"),
        pytest.param("NU:3", "<|N|><|V3|>", id="u-colon-upper-case"),
        pytest.param("lüè", "<|L|><|VE4|>", id="lve"),
        pytest.param("jù", "<|J|><|V4|>", id="ju-is-jv"),
        pytest.param("xuǎn", "<|X|><|VAN3|>", id="xuan-is-xvan"),
        pytest.param("ma", "<|M|><|A5|>", id="neutral-tone-unmarked"),
        pytest.param("zhe5", "<|ZH|><|E5|>", id="neutral-tone-numbered"),
        pytest.param("wu", "<|U5|>", id="neutral-tone-zero-initial"),
        pytest.param("er2", "<|ER2|>", id="er"),
        pytest.param("ér", "<|ER2|>", id="er-tone-mark"),
    ],
)
def test_pinyin_to_upstream_tokens(syllable, tokens):
    assert syllable_to_tokens(syllable) == tokens


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param("", f"'' {NOT_ONE}", id="empty"),
        pytest.param("chong2 qing4", f"'chong2 qing4' {NOT_ONE}", id="two-syllables"),
        pytest.param("hello!", f"'hello!' {NOT_ONE}", id="punctuation"),
        pytest.param("ch7", f"'ch7' {NOT_ONE}", id="tone-7"),
        pytest.param("重", f"'重' {NOT_ONE}", id="han-character"),
        pytest.param(
            "zhx1", "'zhx1' is not a valid Mandarin syllable (initial 'zh', final '')", id="no-final"
        ),
        pytest.param("r", "'r' is not a valid Mandarin syllable (initial 'r', final '')", id="erhua-r-alone"),
        pytest.param(
            "hm", "'hm' is not a valid Mandarin syllable (initial 'h', final '')", id="interjection"
        ),
        pytest.param("ê", "'ê' is not a valid Mandarin syllable (initial '', final 'ê')", id="e-circumflex"),
        pytest.param("zin1", "'zin1' is not a valid Mandarin syllable (initial 'z', final 'iin')", id="zin"),
        pytest.param(
            "shing4", "'shing4' is not a valid Mandarin syllable (initial 'sh', final 'iiing')", id="shing"
        ),
    ],
)
def test_invalid_pinyin_says_why(bad, message):
    with pytest.raises(InvalidPinyin) as caught:
        syllable_to_tokens(bad)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("pinyin", "tokens"),
    [
        pytest.param("chóng qìng", "<|CH|><|ONG2|><|Q|><|ING4|>", id="two-syllables"),
        pytest.param("  yin2\thang2\n", "<|IN2|><|H|><|ANG2|>", id="any-whitespace"),
        pytest.param("yì háng bái lù", "<|I4|><|H|><|ANG2|><|B|><|AI2|><|L|><|U4|>", id="four-in-order"),
        pytest.param("nǚ er5", "<|N|><|V3|><|ER5|>", id="neutral-tone-er"),
    ],
)
def test_pinyin_words_to_tokens(pinyin, tokens):
    assert pinyin_to_tokens(pinyin) == tokens


@pytest.mark.parametrize(
    ("pinyin", "message"),
    [
        pytest.param("", "pinyin is empty: give one syllable per character, e.g. 'chóng qìng'", id="empty"),
        pytest.param(
            " \t", "pinyin is empty: give one syllable per character, e.g. 'chóng qìng'", id="blank"
        ),
        pytest.param(
            "chóng qx5", "'qx5' is not a valid Mandarin syllable (initial 'q', final '')", id="bad-second"
        ),
    ],
)
def test_invalid_pinyin_words(pinyin, message):
    with pytest.raises(InvalidPinyin) as caught:
        pinyin_to_tokens(pinyin)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "pinyin"),
    [
        pytest.param(
            "我" + "<|CH|><|ONG2|><|Q|><|ING4|><|V2|><|SH|><|III2|><|C|><|UEI1|><|UEN1|><|J|><|V4|>" + "好",
            "我 chong2 qing4 yu2 shi2 cui1 wen1 ju4 好",
            id="between-characters",
        ),
        pytest.param(
            "<|ZH|><|III1|><|CH|><|III1|><|R|><|III4|><|Z|><|II4|><|C|><|II2|><|S|><|II1|>",
            "zhi1 chi1 ri4 zi4 ci2 si1",
            id="iii-and-ii-are-i",
        ),
        pytest.param("<|L|><|IOU4|><|G|><|UEI3|><|L|><|UEN4|>", "liu4 gui3 lun4", id="after-an-initial"),
        pytest.param("<|IOU3|><|UEI4|><|UEN1|><|I1|><|U3|>", "you3 wei4 wen1 yi1 wu3", id="zero-initial"),
        pytest.param("<|L|><|V4|><|N|><|V3|><|L|><|VE4|>", "lü4 nü3 lüe4", id="umlaut-kept-after-l-n"),
        pytest.param(
            "<|J|><|V4|><|Q|><|VE4|><|X|><|VAN3|>", "ju4 que4 xuan3", id="umlaut-written-u-after-jqx"
        ),
        pytest.param("<|V2|><|VE4|><|VAN2|><|VN4|>", "yu2 yue4 yuan2 yun4", id="umlaut-zero-initial"),
        pytest.param("<|M|><|A5|><|ER2|>", "ma5 er2", id="neutral-tone-and-er"),
        pytest.param("<|A|>", "a5", id="toneless-final-is-neutral"),
        pytest.param("<|H|><|UA1|>r", "hua1 r", id="text-right-after"),
        pytest.param(
            "我爱<|CH|><|ONG2|><|Q|><|ING4|>，OK? GPU <|J|><|IA1|><|S|><|U4|>!",
            "我爱 chong2 qing4 ，OK? GPU jia1 su4 !",
            id="mixed-chinese-english-punctuation",
        ),
        pytest.param("<|ZH|>中<|ONG1|>", "中 wong1", id="initial-cut-off-by-text-is-dropped"),
        pytest.param("<|ZH|><|CH|><|ANG2|>", "chang2", id="latest-initial-wins"),
        pytest.param("Hello,   世界!", "Hello, 世界!", id="no-tokens-spaces-collapsed"),
        pytest.param("", "", id="empty"),
    ],
)
def test_tokens_back_to_numbered_pinyin_for_espeak(text, pinyin):
    assert tokens_to_pinyin(text) == pinyin


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
