"""Life and emotion layers: deterministic, chunk-independent, within the ARKit ranges."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape import procedural, rig
from blendshape.animator import SpeechAnimator
from blendshape.layers.emotion import (
    EmotionTrack,
    UnknownEmotionError,
    apply_emotion,
    emotion_vector,
)
from blendshape.layers.life import LIFE_MEMORY, LifeConfig, LifeConfigError, LifeLayer, idle_frames
from blendshape.phonemes import PhonemeSpan

A = rig.ARKIT_INDEX
C = rig.CHANNEL_INDEX
FPS = 60
TEN_MINUTES = np.arange(0, 600, 1 / FPS)
EYE_LOOKS = [A[n] for n in rig.ARKIT52 if n.startswith("eyeLook")] + [C[n] for n in rig.EYES]


def _onsets(curve: np.ndarray, times: np.ndarray) -> np.ndarray:
    return times[1:][(curve[1:] > 0.5) & (curve[:-1] <= 0.5)]


def _events(onsets: np.ndarray, double_gap: float = 0.6) -> list[list[float]]:
    """Blink onsets grouped into events: a double blink is two onsets close together."""
    events: list[list[float]] = []
    for t in onsets:
        if events and t - events[-1][-1] < double_gap:
            events[-1].append(float(t))
        else:
            events.append([float(t)])
    return events


def test_blinks_every_two_to_six_seconds_over_ten_minutes():
    life = LifeLayer(seed=7)
    blink = life.blink(TEN_MINUTES)
    events = _events(_onsets(blink, TEN_MINUTES))
    assert 100 <= len(events) <= 300
    # From the last blink of one event to the next event: the configured 2–6 s.
    gaps = np.array([b[0] - a[-1] for a, b in zip(events, events[1:])])
    assert gaps.min() >= 2.0 - 1 / FPS and gaps.max() <= 6.0 + 1 / FPS
    assert blink.max() == pytest.approx(1.0) and blink.min() == 0.0
    # The curve and the schedule agree, to the frame.
    onsets = np.array(life.blink_onsets(600.0))
    assert len(onsets) == sum(len(e) for e in events) + (onsets[-1] > 600 - 0.1)


@pytest.mark.parametrize("probability", [0.0, 0.3])
def test_double_blinks_at_the_configured_rate(probability):
    life = LifeLayer(seed=3, config=LifeConfig(double_blink=probability))
    events = _events(_onsets(life.blink(TEN_MINUTES), TEN_MINUTES))
    doubles = sum(len(e) == 2 for e in events)
    assert all(len(e) <= 2 for e in events)
    assert doubles / len(events) == pytest.approx(probability, abs=0.1)
    for a, b in (e for e in events if len(e) == 2):  # two separate closures, the lids reopen
        assert 0.3 - 1 / FPS <= b - a <= 0.45 + 1 / FPS


def test_chunked_queries_match_one_query():
    times = np.arange(0, 20, 1 / FPS)
    whole = idle_frames(LifeLayer(seed=1), times)
    life = LifeLayer(seed=1)
    parts = np.concatenate([idle_frames(life, times[i:i + 3]) for i in range(0, len(times), 3)])
    np.testing.assert_allclose(whole, parts, atol=1e-6)


def test_an_hour_into_a_show_small_queries_still_match_one_query():
    """Late, small queries (one curves message) look only at the blinks and saccades near
    them; they must give what one query over the whole hour gives there."""
    times = np.arange(3600 * 60) / 60.0
    whole_layer = LifeLayer(seed=11)
    blink, gaze = whole_layer.blink(times), whole_layer.gaze(times)
    layer = LifeLayer(seed=11)
    for start in (0, 1200 * 60, 3599 * 60):  # a fresh layer jumps straight to late times too
        for i in range(start, start + 60 * 60, 2):
            t = times[i:i + 2]
            np.testing.assert_array_equal(layer.blink(t), blink[i:i + 2])
            np.testing.assert_array_equal(layer.gaze(t), gaze[i:i + 2])


def test_a_face_that_forgets_its_past_keeps_minutes_not_hours_and_moves_the_same():
    """A live face forgets its past: a day of it holds a minute's events, and every frame
    equals the frame of a face that remembered everything — even forgetting right up to the
    frame asked for, closer than a session ever does (``LIFE_MEMORY`` behind)."""
    keep, live = LifeLayer(seed=5), LifeLayer(seed=5)
    for start in np.arange(0, 24 * 3600, 7.3):  # a message's worth every 7.3 s, for a day
        t = start + np.arange(12) / 60.0
        live.forget_before(float(t[0]) - LIFE_MEMORY)
        np.testing.assert_array_equal(live.blink(t), keep.blink(t))
        np.testing.assert_array_equal(live.gaze(t), keep.gaze(t))
    assert len(keep._blinks) > 20_000 and len(keep._saccades) > 20_000
    assert len(live._blinks) < 60 and len(live._saccades) < 80  # 60 s: ~15 and ~30
    # Forgetting up to each frame, frame by frame for five minutes: mid-blink, mid-saccade.
    keep, tight = LifeLayer(seed=6), LifeLayer(seed=6)
    times = np.arange(5 * 60 * 60) / 60.0
    blink, gaze = keep.blink(times), keep.gaze(times)
    for i in range(0, len(times), 2):
        tight.forget_before(float(times[i]))
        np.testing.assert_array_equal(tight.blink(times[i:i + 2]), blink[i:i + 2])
        np.testing.assert_array_equal(tight.gaze(times[i:i + 2]), gaze[i:i + 2])
    assert len(tight._blinks) < 8 and len(tight._saccades) < 8


def test_chunked_with_loudness_matches_one_pass():
    """Speech nods carry state; fed in time order, chunking still changes nothing."""
    times = np.arange(0, 12, 1 / FPS)
    loud = (np.sin(2 * np.pi * 0.7 * times) > 0).astype(np.float32) * np.abs(np.sin(9 * times))
    empty = np.zeros((len(times), len(rig.ALL_CHANNELS)), np.float32)
    whole = LifeLayer(seed=4).apply(empty.copy(), times, loudness=loud)
    life = LifeLayer(seed=4)
    parts = [life.apply(empty[i:i + 7].copy(), times[i:i + 7], loudness=loud[i:i + 7])
             for i in range(0, len(times), 7)]
    np.testing.assert_allclose(whole, np.concatenate(parts), atol=1e-6)


def test_a_live_stream_one_or_two_frames_at_a_time_gets_the_whole_clips_life():
    """A live stream asks for its life a frame or two at a time, which the layer answers from
    a block it computed ahead; frame for frame it is the life of one query per stretch:
    silence, then speech nods, then silence, then a second stream on a grid 4 ms later."""
    empty = np.zeros((1, len(rig.ALL_CHANNELS)), np.float32)
    first = np.arange(0, 20, 1 / FPS)
    second = 20.004 + np.arange(0, 8, 1 / FPS)
    loud = np.where((first > 6) & (first < 11), np.abs(np.sin(5 * first)), 0.0)
    speech = loud > 0
    stretches = [(first[~speech & (first < 6)], None), (first[speech], loud[speech]),
                 (first[~speech & (first > 6)], None), (second, None)]
    whole_layer, live = LifeLayer(seed=12), LifeLayer(seed=12)
    for times, loudness in stretches:
        whole = whole_layer.apply(np.repeat(empty, len(times), axis=0), times, loudness)
        sizes = np.resize([1, 2, 2, 1, 2], len(times))  # 20 ms of audio: one frame or two
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        bounds = bounds[bounds < len(times)].tolist() + [len(times)]
        parts = [live.apply(np.repeat(empty, b - a, axis=0), times[a:b],
                            None if loudness is None else loudness[a:b])
                 for a, b in zip(bounds, bounds[1:])]
        np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-9)
    assert np.abs(whole_layer.head(first[speech], loud[speech])).max() > 0  # nods were there


def test_idle_frames_are_in_range_and_move():
    frames = idle_frames(LifeLayer(seed=2), np.arange(0, 10, 1 / FPS))
    assert frames[:, :52].min() >= 0 and frames[:, :52].max() <= 1
    head = rig.select(frames, rig.HEAD)
    assert np.abs(head).max() < 0.1 and head.std(axis=0).min() > 1e-3
    assert rig.select(frames, rig.VISEME_CHANNELS)[:, 0].min() == 1.0


def test_each_layer_off_leaves_its_channels_at_rest():
    times = np.arange(0, 30, 1 / FPS)
    head = [C[n] for n in rig.HEAD]
    blinks = [A["eyeBlinkLeft"], A["eyeBlinkRight"]]
    on = idle_frames(LifeLayer(seed=5), times)
    assert on[:, blinks].max() > 0.9 and np.abs(on[:, EYE_LOOKS]).max() > 0.01
    off = idle_frames(LifeLayer(seed=5, config=LifeConfig(blinks=False)), times)
    assert off[:, blinks].max() == 0
    np.testing.assert_array_equal(off[:, EYE_LOOKS], on[:, EYE_LOOKS])  # the others unchanged
    off = idle_frames(LifeLayer(seed=5, config=LifeConfig(gaze=False)), times)
    assert np.abs(off[:, EYE_LOOKS]).max() == 0
    off = idle_frames(LifeLayer(seed=5, config=LifeConfig(head=False, breathing=False)), times)
    assert np.abs(off[:, head]).max() == 0
    # Breathing alone: a slow pitch sine of the configured rate and amplitude, nothing else.
    config = LifeConfig(head=False, breathing_rate=0.2, breathing_amplitude=0.01)
    off = idle_frames(LifeLayer(seed=5, config=config), times)
    assert np.abs(off[:, [C["headYaw"], C["headRoll"]]]).max() == 0
    np.testing.assert_allclose(off[:, C["headPitch"]], 0.01 * np.sin(2 * np.pi * 0.2 * times),
                               atol=1e-6)
    # Breathing off: the head sways exactly as without the breath.
    life = LifeLayer(seed=5)
    no_breath = idle_frames(LifeLayer(seed=5, config=LifeConfig(breathing=False)), times)
    np.testing.assert_allclose(no_breath[:, head], life.sway(times), atol=1e-6)


def test_head_motion_follows_speech_loudness(piper):
    pcm = np.concatenate([c.pcm for c in piper.synthesize(
        "Papa bought a big blue boat. It sails across the bay every morning.", piper.voices()[0])])
    rate = 22050
    pcm = np.concatenate([np.zeros(rate // 2, np.float32), pcm, np.zeros(rate, np.float32)])
    times = np.arange(int(len(pcm) / rate * FPS)) / FPS
    loud = procedural.loudness(pcm, rate, times)
    speaking = LifeLayer(seed=9).head(times, loudness=loud)
    silent = LifeLayer(seed=9).head(times)
    nod = speaking - silent
    assert np.corrcoef(nod[:, 1], loud)[0, 1] > 0.5
    assert np.corrcoef(np.linalg.norm(nod, axis=1), loud)[0, 1] > 0.5
    assert 0.02 < np.abs(nod).max() < 0.1                     # a few degrees, not a headbang
    assert np.abs(nod[-10:]).max() < 0.005                    # settles once speech stops
    again = LifeLayer(seed=9).head(times, loudness=loud)
    np.testing.assert_array_equal(again, speaking)             # deterministic


def test_emotions():
    happy = emotion_vector("happy")
    assert happy[A["mouthSmileLeft"]] > 0.3
    mix = emotion_vector({"happy": 0.5, "sad": 0.5})
    assert mix[A["browInnerUp"]] > 0 and mix[A["mouthSmileLeft"]] > 0
    with pytest.raises(UnknownEmotionError, match="known: "):
        emotion_vector("bored")
    full = np.zeros((30, len(rig.ALL_CHANNELS)), np.float32)
    out = apply_emotion(full, happy, np.arange(30) / 60)
    assert out[0, A["mouthSmileLeft"]] == 0  # fades in
    assert out[-1, A["mouthSmileLeft"]] == pytest.approx(happy[A["mouthSmileLeft"]])


def test_emotion_ramp_is_monotone_and_reaches_the_target_in_time():
    track = EmotionTrack(ramp=0.4)
    track.set("happy", at=1.0)
    track.set("angry", at=3.0)
    times = np.arange(0, 5, 1 / 240)
    values = track.at(times)
    happy, angry = emotion_vector("happy"), emotion_vector("angry")
    assert np.abs(values[times < 1.0]).max() == 0
    ramp = values[(times >= 1.0) & (times <= 1.4)]
    assert (np.diff(ramp, axis=0) >= -1e-7).all()              # every channel rises or holds
    np.testing.assert_allclose(values[(times >= 1.4) & (times < 3.0)], happy[None].repeat(
        ((times >= 1.4) & (times < 3.0)).sum(), 0), atol=1e-6)
    down = values[(times >= 3.0) & (times <= 3.4)]
    delta = np.sign(angry - happy)
    assert ((np.diff(down, axis=0) * delta[None]) >= -1e-7).all()  # each channel heads to its target
    np.testing.assert_allclose(values[times >= 3.4], np.broadcast_to(angry, values[times >= 3.4].shape),
                               atol=1e-6)
    # A change that lands mid-ramp starts from where the face is: no jump.
    track.set("sad", at=3.2)
    values = track.at(times)
    assert np.abs(np.diff(values, axis=0)).max() < 0.02
    np.testing.assert_allclose(track.at([3.7])[0], emotion_vector("sad"), atol=1e-6)


def test_emotion_can_change_mid_utterance():
    animator = SpeechAnimator(fps=FPS, emotion=None, emotion_ramp=0.3)
    animator.set_emotion("surprised", at=0.5)
    pcm = np.zeros(22050, np.float32)
    frames = animator.add(pcm, 22050, [PhonemeSpan("a", 0.1, 0.9)]).frames
    brow = frames[:, A["browInnerUp"]]
    assert brow[:30].max() == 0 and brow[48:].min() == pytest.approx(0.6)
    assert (np.diff(brow[30:48]) >= 0).all()


def _closed(frame) -> bool:
    press = min(frame[A["mouthPressLeft"]], frame[A["mouthPressRight"]])
    return frame[A["jawOpen"]] < 0.1 and frame[A["mouthClose"]] >= 0.3 and press >= 0.6


@pytest.mark.parametrize("emotion", ["happy", "angry", "surprised", {"happy": 1.0, "surprised": 1.0}])
def test_lips_still_close_on_p_b_m_with_a_strong_emotion(piper, emotion):
    animator = SpeechAnimator(fps=FPS, emotion=emotion, life=LifeLayer(seed=1))
    frames, spans = [], []
    for chunk in piper.synthesize("Papa bought a big blue boat. Mmm, maybe.", piper.voices()[0]):
        offset = animator.duration
        frames.append(animator.add(chunk.pcm, chunk.rate, chunk.phonemes, chunk.lang).frames)
        spans += [PhonemeSpan(p.phoneme, p.start + offset, p.end + offset) for p in chunk.phonemes]
    frames = np.concatenate(frames)
    bilabials = [s for s in spans if s.phoneme.strip("ˈˌː") in ("p", "b", "m")]
    assert len(bilabials) >= 8
    for span in bilabials:
        k = round(0.5 * (span.start + span.end) * FPS)
        assert any(_closed(f) for f in frames[max(k - 1, 0):k + 2]), f"{emotion}: {span} open"
    pose = emotion_vector(emotion)
    brows = [i for i in range(52) if rig.ARKIT52[i].startswith("brow") and pose[i] > 0]
    late = frames[30:]
    np.testing.assert_allclose(late[:, brows].min(axis=0), np.minimum(pose[brows], 1), atol=1e-5)
    if pose[A["mouthSmileLeft"]] > 0:  # the smile stays on between closures
        assert np.median(late[:, A["mouthSmileLeft"]]) > 0.2


def test_life_config_from_a_toml_table():
    config = LifeConfig.from_dict({"blink_interval": [1.5, 3.0], "double_blink": 0.2, "gaze": False})
    assert config.blink_interval == (1.5, 3.0) and config.double_blink == 0.2 and not config.gaze
    with pytest.raises(LifeConfigError, match=r"unknown \[life\] key 'blnik'.*blink_interval"):
        LifeConfig.from_dict({"blnik": 1})
    with pytest.raises(LifeConfigError, match="blink_interval.*low <= high"):
        LifeConfig.from_dict({"blink_interval": [6, 2]})
    with pytest.raises(LifeConfigError, match="blinks must be true or false"):
        LifeConfig.from_dict({"blinks": "yes"})
    with pytest.raises(LifeConfigError, match="probability"):
        LifeConfig(double_blink=1.5)
    with pytest.raises(LifeConfigError, match="number >= 0"):
        LifeConfig.from_dict({"head_amplitude": -0.1})
    with pytest.raises(LifeConfigError, match="two numbers"):
        LifeConfig.from_dict({"saccade_interval": 2})
