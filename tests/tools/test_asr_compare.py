"""The recognizer comparison: its word error count, and both recognizers on a real turn."""

from __future__ import annotations

import pytest

from bridge.tools.asr_compare import compare, flite_turns, word_errors, words


def test_words_drop_case_and_punctuation_but_keep_apostrophes():
    assert words("Hello, what's your NAME?") == ["hello", "what's", "your", "name"]


@pytest.mark.parametrize("hyp, errors", [
    ("how are you doing today", 0),      # punctuation and case are not errors
    ("how are you today", 1),            # a deletion
    ("how are you doing today then", 1),  # an insertion
    ("who are you doing to day", 3),     # a substitution, then "today" → "to day": 2
    ("", 5),
])
def test_word_errors_is_the_edit_distance_over_words(hyp, errors):
    assert word_errors("How are you doing today?", hyp) == errors


def test_both_recognizers_hear_a_voice_neither_was_tuned_on():
    """One flite turn through PocketSphinx and Whisper tiny.en (the bundled model), clean
    and in noise: the report has every cell, and Whisper gets the clean turn right."""
    pytest.importorskip("faster_whisper")
    from bridge.speech.asr.registry import make_asr

    turns = flite_turns(("slt",), ("Please open the door for me.",))
    report = compare({"pocketsphinx": make_asr("pocketsphinx"), "whisper": make_asr("whisper")},
                     turns)
    assert set(report) == {"clean", "noise10"}
    assert report["clean"]["whisper"]["wer"] == 0.0
    for by_name in report.values():
        for m in by_name.values():
            assert 0.0 <= m["wer"] <= 2.0 and m["final_ms_median"] > 0 and m["turns"] == 1


def test_our_default_voice_is_understood():
    """Intelligibility is measured: Whisper hears Piper's default voice say a turn."""
    pytest.importorskip("faster_whisper")
    from bridge.speech.asr.registry import make_asr
    from bridge.tools.asr_compare import intelligibility

    report = intelligibility(make_asr("whisper"), voices=["joe"],
                             texts=("Can you help me find the blacksmith?",))
    assert set(report) == {"joe"} and report["joe"] <= 1 / 7  # at most one word of seven
