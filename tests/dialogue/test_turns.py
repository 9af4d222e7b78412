"""Turn-taking on scripted timelines: detector frames in, actions out, no audio, no clock."""

from __future__ import annotations

import pytest

from bridge.dialogue.turns import (
    CancelListening,
    FinishListening,
    Interrupt,
    Prefetch,
    Respond,
    StartListening,
    TurnConfig,
    TurnConfigError,
    TurnTaking,
    UserSpeaking,
)

FRAME = 0.025  # divides every segment of the scripts exactly


def run(machine: TurnTaking, script: list[tuple[float, float]], t0: float = 0.0):
    """Feed (seconds, probability) segments; return (time, action) pairs."""
    out, t = [], t0
    for seconds, prob in script:
        for _ in range(round(seconds / FRAME)):
            t += FRAME
            out.extend((round(t, 3), a) for a in machine.vad(t, prob, FRAME))
    return out, t


def kinds(events):
    return [type(a).__name__ for _, a in events]


def test_a_spoken_turn_starts_listening_at_onset_and_finishes_after_the_hangover():
    machine = TurnTaking(TurnConfig(min_speech=0.2, end_silence=0.35, preroll=0.25,
                                    prefetch_silence=0.1))
    events, _ = run(machine, [(1.0, 0.0), (1.5, 0.9), (1.0, 0.0)])
    assert kinds(events) == ["StartListening", "UserSpeaking", "Prefetch", "FinishListening"]
    t_pre = events.pop(2)[0]
    assert t_pre - 2.5 == pytest.approx(0.1, abs=FRAME)       # a short pause: prepare
    (t_start, start), (t_conf, _), (t_fin, fin) = events
    assert isinstance(start, StartListening)
    assert t_start == pytest.approx(1.0 + FRAME, abs=1e-6)      # the first speech frame
    assert start.t == pytest.approx(1.0 - 0.25, abs=1e-6)      # with pre-roll
    assert t_conf - 1.0 == pytest.approx(0.2, abs=FRAME)       # confirmed after min_speech
    assert isinstance(fin, FinishListening)
    assert fin.t == pytest.approx(2.5, abs=FRAME)              # the last speech frame
    assert t_fin - 2.5 == pytest.approx(0.35, abs=FRAME)       # decided after end_silence
    assert machine.transcript("hello there", fin.t) == [Respond("hello there", fin.t)]


def test_a_cough_is_dropped_and_never_interrupts():
    machine = TurnTaking()
    machine.chat("tell me a story")
    assert machine.replying
    events, _ = run(machine, [(0.5, 0.0), (0.1, 0.95), (0.6, 0.0)])
    assert kinds(events) == ["StartListening", "CancelListening"]
    assert machine.replying


def test_barge_in_fires_on_the_frame_that_reaches_min_barge_in():
    machine = TurnTaking(TurnConfig(min_speech=0.2, min_barge_in=0.3))
    assert kinds([(0, a) for a in machine.chat("hi")]) == ["Respond"]
    events, _ = run(machine, [(0.2, 0.0), (1.0, 0.9)])
    assert kinds(events) == ["StartListening", "UserSpeaking", "Interrupt"]
    t_int = events[2][0]
    assert t_int - 0.2 == pytest.approx(0.3, abs=FRAME + 1e-6)
    assert events[2][1] == Interrupt("barge_in")
    assert not machine.replying


def test_speech_while_silent_character_is_not_a_barge_in():
    machine = TurnTaking()
    events, _ = run(machine, [(1.0, 0.9)])
    assert "Interrupt" not in kinds(events)


def test_hysteresis_keeps_a_turn_through_uncertain_frames():
    machine = TurnTaking(TurnConfig(end_silence=0.3))
    # 0.4 is between the thresholds: neither speech nor silence, so the turn goes on.
    events, _ = run(machine, [(0.5, 0.9), (1.0, 0.4), (0.5, 0.9), (0.4, 0.1)])
    assert kinds(events) == ["StartListening", "UserSpeaking", "Prefetch", "FinishListening"]


def test_a_pause_that_the_user_talks_through_prefetches_again_later():
    machine = TurnTaking(TurnConfig(end_silence=0.5, prefetch_silence=0.1))
    events, _ = run(machine, [(0.5, 0.9), (0.2, 0.0), (0.5, 0.9), (0.6, 0.0)])
    assert kinds(events) == ["StartListening", "UserSpeaking", "Prefetch", "Prefetch",
                             "FinishListening"]


def test_an_empty_transcript_answers_nothing_and_a_new_turn_interrupts_the_old_reply():
    machine = TurnTaking()
    assert machine.transcript("   ", 1.0) == []
    assert machine.chat("first") == [Respond("first")]
    assert machine.chat("second") == [Interrupt("new_turn"), Respond("second")]
    machine.reply_ended()
    assert machine.chat("third") == [Respond("third")]


def test_a_stuck_detector_ends_the_turn_at_max_turn():
    machine = TurnTaking(TurnConfig(max_turn=2.0))
    events, _ = run(machine, [(3.0, 0.9)])
    assert kinds(events)[:3] == ["StartListening", "UserSpeaking", "FinishListening"]
    assert events[2][0] == pytest.approx(2.0, abs=2 * FRAME)
    assert kinds(events)[3] == "StartListening"  # the speech goes on: a new turn


def test_onset_gap_drops_unconfirmed_speech_after_silence():
    machine = TurnTaking(TurnConfig(min_speech=0.5, onset_gap=0.2))
    events, _ = run(machine, [(0.3, 0.9), (0.25, 0.0)])
    assert kinds(events) == ["StartListening", "CancelListening"]
    assert isinstance(events[-1][1], CancelListening)


def test_user_speaking_is_reported_once_per_turn():
    machine = TurnTaking()
    events, _ = run(machine, [(1.0, 0.9), (0.5, 0.0), (1.0, 0.9), (0.5, 0.0)])
    assert kinds(events).count("UserSpeaking") == 2
    assert all(isinstance(a, (StartListening, UserSpeaking, Prefetch, FinishListening))
               for _, a in events)


@pytest.mark.parametrize("kwargs", [dict(min_speech=-1), dict(end_silence=11),
                                    dict(speech_threshold=0.3, silence_threshold=0.5),
                                    dict(max_turn=0.1)])
def test_bad_settings_are_refused_by_name(kwargs):
    with pytest.raises(TurnConfigError) as info:
        TurnConfig(**kwargs)
    assert "dialogue." in str(info.value)
