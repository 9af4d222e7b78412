"""The gesture layer: words placed on phoneme timings, the planner's rules, and the motion.

Everything here is pure, so the sentences are hand-made: phoneme timings as Piper reports
them (pauses as ``,`` ``.`` ``^`` tokens), and prosody tracks with a peak where a test wants
the voice to lean.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blendshape import rig
from blendshape.animator import SpeechAnimator
from blendshape.layers.gestures import GestureConfig, GestureConfigError, GestureTrack
from blendshape.layers.gestures.planner import Gesture, emotion_style, plan_gestures
from blendshape.layers.gestures.prosody import Prosody, analyse, prominence
from blendshape.layers.gestures.words import Word, align_words
from blendshape.phonemes import PhonemeSpan

PITCH = rig.CHANNEL_INDEX["headPitch"]
YAW = rig.CHANNEL_INDEX["headYaw"]
ROLL = rig.CHANNEL_INDEX["headRoll"]
INNER = rig.CHANNEL_INDEX["browInnerUp"]


def spans(*tokens: str, step: float = 0.08, start: float = 0.05) -> list[PhonemeSpan]:
    """Phonemes ``step`` apart; a pause token (``,`` ``.`` ``?``) lasts twice as long."""
    out, t = [PhonemeSpan("^", 0.0, start)], start
    for token in tokens:
        length = 2 * step if token in ",.?" else step
        out.append(PhonemeSpan(token, t, t + length))
        t += length
    return out


def words(*items: tuple[str, float, float, str]) -> list[Word]:
    return [Word(text, start, end, after) for text, start, end, after in items]


def names(gestures: list[Gesture]) -> list[str]:
    return [g.name for g in gestures]


# ---- words ------------------------------------------------------------------------------


def test_words_follow_the_phrases_the_voice_paused_between() -> None:
    # "Yes, absolutely." : j ɛ s | , | æ b s ə l uː t l i | .
    ph = spans("j", "ɛ", "s", ",", "æ", "b", "s", "ə", "l", "uː", "t", "l", "i", ".")
    got = align_words("Yes, absolutely.", ph)
    assert [(w.text, w.after) for w in got] == [("Yes", ","), ("absolutely", ".")]
    assert got[0].start == pytest.approx(0.05) and got[0].end == pytest.approx(0.29)
    assert got[1].start == pytest.approx(0.45)  # after the comma's pause, not before it


def test_words_inside_a_phrase_share_its_phonemes_by_their_letters() -> None:
    # "I don't know." : a ɪ d o ʊ n t n o ʊ — 10 phonemes, letters 1 + 5 + 4
    ph = spans("a", "ɪ", "d", "o", "ʊ", "n", "t", "n", "o", "ʊ", ".")
    got = align_words("I don't know.", ph)
    assert [w.text for w in got] == ["I", "don't", "know"]
    assert [round(w.start, 2) for w in got] == [0.05, 0.13, 0.53]
    assert got[-1].end == pytest.approx(0.85)


def test_words_spread_over_the_voiced_audio_when_a_voice_gives_no_timings() -> None:
    got = align_words("one two", [], voiced=(1.0, 2.0))
    assert [(w.start, w.end) for w in got] == [(1.0, 1.5), (1.5, 2.0)]
    assert align_words("one two", []) == []
    assert align_words("", spans("a")) == []


def test_a_pause_the_text_has_no_mark_for_makes_one_phrase() -> None:
    ph = spans("a", ",", "b", ",", "c")  # three runs, one phrase of text
    got = align_words("aa bb", ph)
    assert got[0].start == pytest.approx(0.05) and got[1].end == pytest.approx(ph[-1].end)


# ---- the planner ------------------------------------------------------------------------

YES = words(("Yes", 0.06, 0.41, ","), ("absolutely", 0.56, 1.31, "."))
QUESTION = words(("Do", 0.05, 0.15, ""), ("you", 0.15, 0.26, ""), ("really", 0.26, 0.64, ""),
                 ("think", 0.64, 0.87, ""), ("so", 0.87, 1.07, "?"))
DONT_KNOW = words(("I", 0.05, 0.08, ""), ("don't", 0.08, 0.36, ""), ("know", 0.36, 0.71, "."))


def test_yes_nods_on_its_word() -> None:
    got = plan_gestures("Yes, absolutely.", YES, end=1.45)
    assert names(got) == ["nod"]  # absolutely's nod would overlap: one nod, not two
    assert abs(got[0].t - 0.06) <= 0.15 and got[0].word == "Yes"
    assert 0.5 <= got[0].strength <= 1 and got[0].duration > 0.3


def test_a_question_tilts_the_head_over_its_span() -> None:
    got = plan_gestures("Do you really think so?", QUESTION, end=1.3)
    tilt = next(g for g in got if g.name == "tilt")
    assert tilt.t <= 0.05 and tilt.end >= 1.07
    assert "shake" not in names(got) and "nod" not in names(got)


def test_i_dont_know_shrugs_and_its_dont_does_not_shake() -> None:
    got = plan_gestures("I don't know.", DONT_KNOW, end=0.88)
    assert names(got) == ["shrug"]
    assert got[0].t <= 0.05 and got[0].end >= 0.71 - 1e-9 and got[0].end <= 0.88 + 1e-9


def test_no_shakes_and_a_plain_not_shakes_less() -> None:
    no = plan_gestures("No, thanks.", words(("No", 0.0, 0.3, ","), ("thanks", 0.5, 0.9, ".")))
    assert names(no) == ["shake"] and no[0].strength == pytest.approx(0.75)
    plain = plan_gestures("It is not here.", words(("It", 0, .1, ""), ("is", .1, .2, ""),
                                                   ("not", .2, .4, ""), ("here", .4, .7, ".")))
    assert names(plain) == ["shake"] and plain[0].strength < 0.5


def test_words_that_agree_only_when_alone_do_so() -> None:
    alone = plan_gestures("Right.", words(("Right", 0.0, 0.3, ".")))
    assert names(alone) == ["nod"]
    inside = plan_gestures("Take the right road.", words(
        ("Take", 0, .2, ""), ("the", .2, .3, ""), ("right", .3, .6, ""), ("road", .6, .9, ".")))
    assert "nod" not in names(inside)


def peak_at(start: float, end: float, length: float = 3.0) -> Prosody:
    """A flat voice that leans (+8 dB, +4 semitones) on [start, end]."""
    times = np.arange(0, length, 0.01)
    lean = (times >= start) & (times <= end)
    energy = np.where(lean, -12.0, -20.0) + 0.3 * np.sin(times * 7)
    pitch = np.where(lean, 160.0, 126.0) * (1 + 0.01 * np.sin(times * 5))
    return Prosody(times, energy, pitch)


SENTENCE = words(("We", 0.0, 0.2, ""), ("found", 0.2, 0.6, ""), ("the", 0.6, 0.7, ""),
                 ("treasure", 0.7, 1.2, ""), ("near", 1.2, 1.5, ""), ("the", 1.5, 1.6, ""),
                 ("river", 1.6, 2.0, "."))


def test_a_word_the_voice_leans_on_raises_the_brows_with_a_beat() -> None:
    got = plan_gestures("We found the treasure near the river.", SENTENCE, peak_at(0.7, 1.2))
    assert sorted(names(got)) == ["beat", "brow_raise"]
    assert {g.word for g in got} == {"treasure"}
    brow = next(g for g in got if g.name == "brow_raise")
    assert 0.55 <= brow.t <= 0.7  # a little ahead, so the raise peaks on the word
    assert plan_gestures("We found the treasure near the river.", SENTENCE) == []  # flat


def test_function_words_are_never_emphasised_and_raises_are_spaced() -> None:
    assert plan_gestures("x", SENTENCE, peak_at(0.62, 0.68)) == []  # "the"
    both = Prosody(np.arange(0, 3, 0.01), np.where(
        (np.arange(0, 3, 0.01) % 1.0) < 0.3, -10.0, -20.0), None)
    raises = [g for g in plan_gestures("x", SENTENCE, both) if g.name == "brow_raise"]
    assert all(abs(a.t - b.t) >= 1.5 - 0.2 for a, b in itertools.pairwise(raises))


def test_prominence_is_zero_without_tracks_and_high_on_the_peak() -> None:
    spans_ = [(w.start, w.end) for w in SENTENCE]
    assert not prominence(None, spans_).any()
    score = prominence(peak_at(0.7, 1.2), spans_)
    assert int(np.argmax(score)) == 3 and score[3] > 2


def test_emotion_scales_strength_and_tempo() -> None:
    calm = plan_gestures("Yes, absolutely.", YES)[0]
    sad = plan_gestures("Yes, absolutely.", YES, emotion="sad")[0]
    assert sad.strength < calm.strength and sad.duration > calm.duration
    angry = plan_gestures("We found the treasure near the river.", SENTENCE, peak_at(0.7, 1.2),
                          emotion="angry")
    assert names(angry) == ["beat"]  # lowered brows don't raise
    assert emotion_style({"happy": 0.5}, "nod")[0] == pytest.approx((1.15 + 1) / 2)
    assert emotion_style("joy", "nod") == emotion_style("happy", "nod")
    assert emotion_style("bored", "nod") == (1.0, 1.0)


def test_config_switches_and_strength() -> None:
    assert plan_gestures("Yes, absolutely.", YES, config=GestureConfig(enabled=False)) == []
    assert plan_gestures("Yes, absolutely.", YES, config=GestureConfig(nod=False)) == []
    half = plan_gestures("Yes, absolutely.", YES, config=GestureConfig(strength=0.5))[0]
    assert half.strength == pytest.approx(0.375)
    big = plan_gestures("Yes, absolutely.", YES, config=GestureConfig(strength=2.0))[0]
    assert big.strength == 1.0


def test_the_gestures_table_is_checked_like_the_others() -> None:
    assert GestureConfig.from_dict({"strength": 0.5, "shrug": False}).shrug is False
    with pytest.raises(GestureConfigError, match="unknown \\[gestures\\] key 'nods'; known: "):
        GestureConfig.from_dict({"nods": True})
    with pytest.raises(GestureConfigError, match="strength must be a number from 0 to 2"):
        GestureConfig.from_dict({"strength": 3})
    with pytest.raises(GestureConfigError, match="nod must be true or false"):
        GestureConfig.from_dict({"nod": "yes"})


def test_a_persona_style_multiplies_strength_and_cannot_undo_a_server_switch() -> None:
    server = GestureConfig(strength=1.5, shrug=False)
    styled = server.styled(GestureConfig(strength=0.5, nod=False))
    assert styled.strength == pytest.approx(0.75) and not styled.nod and not styled.shrug
    assert server.styled(None) is server
    assert not server.styled(GestureConfig(shrug=True)).shrug


# ---- motion -----------------------------------------------------------------------------


def test_a_nod_moves_the_pitch_down_twice_and_nothing_else() -> None:
    track = GestureTrack([Gesture("nod", 1.0, 0.6, 1.0)])
    times = np.arange(0, 3, 1 / 60)
    head, brows = track.offsets(times)
    inside = (times > 1.0) & (times < 1.6)
    assert head[inside, 1].max() > 0.15 and head[~inside].max() == 0  # chin down ~10°
    assert not head[:, [0, 2]].any() and not brows.any()
    dips = np.sum((head[1:-1, 1] > head[:-2, 1]) & (head[1:-1, 1] >= head[2:, 1]))
    assert dips == 2


@pytest.mark.parametrize("name,column", [("shake", 0), ("tilt", 2)])
def test_shake_turns_and_tilt_rolls(name: str, column: int) -> None:
    head, _ = GestureTrack([Gesture(name, 0.0, 1.0, 1.0)]).offsets(np.linspace(0, 1, 61))
    assert np.abs(head[:, column]).max() > 0.1
    assert np.abs(np.delete(head, column, axis=1)).max() == 0


def test_brow_raise_and_shrug_lift_the_brows_within_range() -> None:
    full = np.zeros((61, len(rig.ALL_CHANNELS)), np.float32)
    full[:, INNER] = 0.8  # an emotion's brows already up: the sum stays a weight
    out = GestureTrack([Gesture("brow_raise", 0, 1, 1), Gesture("shrug", 0, 1, 1)]).apply(
        full, np.linspace(0, 1, 61))
    assert out[:, INNER].max() == pytest.approx(1.0) and out[:, INNER].min() == pytest.approx(0.8)


def test_motion_in_chunks_is_the_motion_of_the_whole() -> None:
    track = GestureTrack([Gesture("nod", 0.2, 0.6, 0.7), Gesture("tilt", 0.1, 1.2, 0.5)])
    times = np.arange(0, 2, 1 / 60)
    whole = track.offsets(times)[0]
    parts = np.vstack([track.offsets(times[i:i + 3])[0] for i in range(0, len(times), 3)])
    np.testing.assert_array_equal(whole, parts)


# ---- in the animator --------------------------------------------------------------------


def speech(seconds: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    voice = np.sin(2 * np.pi * 130 * t) * (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t))
    return voice.astype(np.float32)


def test_the_animator_draws_a_sentences_nod_into_the_head_curves() -> None:
    ph = spans("j", "ɛ", "s", ",", "æ", "b", "s", "ə", "l", "uː", "t", "l", "i", ".")
    pcm = speech(ph[-1].end + 0.1)
    plain = SpeechAnimator(fps=60).add(pcm, 22050, ph, text="Yes, absolutely.")
    face = SpeechAnimator(fps=60, gestures=GestureConfig())
    seg = face.add(pcm, 22050, ph, text="Yes, absolutely.")
    assert [g.name for g in seg.gestures] == ["nod"]
    nod = seg.gestures[0]
    moved = seg.frames[:, PITCH] - plain.frames[:, PITCH]
    times = np.arange(len(moved)) / 60
    inside = (times > nod.t) & (times < nod.end)
    assert moved[inside].max() > 0.1 and not moved[~inside].any()
    untouched = [c for c in range(len(rig.ALL_CHANNELS)) if c not in (PITCH,)]
    np.testing.assert_array_equal(seg.frames[:, untouched], plain.frames[:, untouched])


def test_gestures_land_on_the_utterance_clock_and_curves_can_be_left_alone() -> None:
    first = spans("h", "ə", "l", "oʊ", ".")
    second = spans("j", "ɛ", "s", ".")
    face = SpeechAnimator(fps=60, gestures=GestureConfig(curves=False))
    face.add(speech(first[-1].end), 22050, first, text="Hello.")
    offset = face.duration
    seg = face.add(speech(second[-1].end), 22050, second, text="Yes.")
    assert seg.gestures[0].name == "nod" and seg.gestures[0].t == pytest.approx(offset, abs=0.01)
    assert not face.track.gestures  # messages only: the face is the life layer's
    assert SpeechAnimator(fps=60).add(speech(0.5), 22050, second, text="Yes.").gestures == []


def test_real_audio_prosody_tracks_have_the_voice_in_them() -> None:
    tracks = analyse(speech(1.0), 22050)
    assert tracks.pitch is not None and tracks.energy is not None
    voiced = tracks.pitch[np.isfinite(tracks.pitch)]
    assert len(voiced) > 0.8 * len(tracks.pitch)
    assert np.median(voiced) == pytest.approx(130, rel=0.05)
