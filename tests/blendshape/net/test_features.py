"""Log-mel features: the streaming extractor matches the offline one exactly."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.net.features import (
    FRAME_RATE,
    HOP,
    LONG_PUSH,
    N_MELS,
    NoiseFloor,
    StreamingLogMel,
    log_mel,
    mel_filterbank,
)


def test_shape_and_rate():
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    feats = log_mel(audio)
    assert feats.shape == (100, N_MELS) and FRAME_RATE == 100


@pytest.mark.parametrize("chunk", [1, 37, 160, 320, 999])
def test_streaming_matches_offline(chunk):
    audio = np.random.default_rng(1).normal(0, 0.2, 16_000 + 77).astype(np.float32)
    stream = StreamingLogMel()
    parts = [stream.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    # Equal up to float rounding (BLAS sums a batch of frames in a different order).
    np.testing.assert_allclose(np.concatenate(parts), log_mel(audio), atol=1e-4, rtol=0)


def test_a_tone_lights_the_right_band():
    t = np.arange(16_000) / 16_000
    low = log_mel(0.5 * np.sin(2 * np.pi * 300 * t)).mean(axis=0)
    high = log_mel(0.5 * np.sin(2 * np.pi * 4000 * t)).mean(axis=0)
    assert np.argmax(low) < 20 < np.argmax(high)


def test_frames_are_causal():
    """Frame i depends on nothing after sample (i + 1) * HOP."""
    audio = np.random.default_rng(2).normal(0, 0.2, 8_000).astype(np.float32)
    changed = audio.copy()
    changed[50 * HOP:] = 0.0
    np.testing.assert_array_equal(log_mel(audio)[:50], log_mel(changed)[:50])


def test_filterbank_covers_the_band():
    fb = mel_filterbank()
    assert fb.shape == (N_MELS, 257) and (fb.sum(axis=1) > 0).all()


def _bursts_in_noise(noise: float, seconds: float = 3.0) -> np.ndarray:
    """A 200 Hz buzz, on 150 ms and off 150 ms (a closure's silence), in steady white noise."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * 16_000)) / 16_000
    on = (t % 0.3) < 0.15
    return (0.3 * on * np.sign(np.sin(2 * np.pi * 200 * t)) + noise * rng.normal(size=len(t))
            ).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 160, 333, 4000])
def test_denoised_streaming_matches_offline(chunk):
    audio = _bursts_in_noise(0.03)
    stream = StreamingLogMel(denoise=True)
    parts = [stream.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    np.testing.assert_allclose(np.concatenate(parts), log_mel(audio, denoise=True),
                               atol=1e-4, rtol=0)


def test_the_noise_floor_empties_the_gaps_and_keeps_the_voice():
    """What the realtime network needs to see a closure in noise: the gaps between bursts
    drop far below the bursts again, as they are in clean audio."""
    audio = _bursts_in_noise(0.06)  # about 10 dB under the buzz
    t = (np.arange(len(log_mel(audio))) + 1) * HOP / 16_000
    gap = ((t % 0.3) > 0.19) & ((t % 0.3) < 0.28) & (t > 1.0)  # past the first 1 s window
    burst = ((t % 0.3) > 0.04) & ((t % 0.3) < 0.14) & (t > 1.0)
    plain, denoised = log_mel(audio), log_mel(audio, denoise=True)
    assert float(plain[gap].mean() - denoised[gap].mean()) > 3.0  # the gaps lose > 13 dB
    voiced = plain[burst].mean(axis=0) > plain[gap].mean(axis=0) + 2.3  # bands 10 dB over
    assert voiced.sum() > 10
    kept = denoised[burst][:, voiced].mean() - plain[burst][:, voiced].mean()
    assert abs(float(kept)) < 0.3  # where the voice is, it stays within 1.3 dB


def test_the_floor_is_causal_and_starts_empty():
    """Nothing after frame i changes frame i; nothing is taken off before a floor is known
    (the first frames are partly before the audio)."""
    audio = _bursts_in_noise(0.03, 2.0)
    changed = audio.copy()
    changed[120 * HOP:] *= 4.0
    np.testing.assert_array_equal(log_mel(audio, denoise=True)[:120],
                                  log_mel(changed, denoise=True)[:120])
    first = NoiseFloor().push(log_mel(audio)[:3])
    np.testing.assert_allclose(first, log_mel(audio)[:3], atol=1e-5)


def test_clean_speech_passes_untouched():
    """The gate: bursts 60 dB over a faint hiss are studio audio, and the network hears them
    as it was trained to."""
    audio = _bursts_in_noise(0.0003)
    np.testing.assert_allclose(log_mel(audio, denoise=True), log_mel(audio), atol=1e-5)


@pytest.mark.parametrize("settings", [{}, {"block": 3, "blocks": 4, "smooth": 7, "settle": 0},
                                      {"block": 1, "blocks": 1, "smooth": 1, "gate": None},
                                      {"block": 7, "blocks": 12, "smooth": 2, "settle": 33}])
def test_a_long_push_gives_the_numbers_of_frames_pushed_one_by_one(settings):
    """Over LONG_PUSH frames (a whole clip) the floor takes them all at once, with vector
    operations in place of its loop: every frame must come out as the loop gives it, from
    any state the loop left (blocks half done, the ring full or not)."""
    mel = log_mel(_bursts_in_noise(0.03, 4.0))
    rng = np.random.default_rng(7)
    for _ in range(3):
        one_by_one, in_pieces = NoiseFloor(**settings), NoiseFloor(**settings)
        cut = int(rng.integers(0, 150))
        in_pieces.push(mel[:cut])  # a short or a long push first: either state carries on
        expected = np.concatenate([one_by_one.push(mel[i:i + 1]) for i in range(len(mel))])
        got = [in_pieces.push(mel[cut:cut + 140]), in_pieces.push(mel[cut + 140:])]
        assert len(got[0]) > LONG_PUSH
        np.testing.assert_allclose(np.concatenate(got), expected[cut:], atol=1e-6, rtol=0)
        assert in_pieces._frame == one_by_one._frame


def _streams_at_their_own_phases(count: int, seed: int) -> list[np.ndarray]:
    """Noisy bursts of different loudness, each stream to be joined at its own moment."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        t = np.arange(3 * 16_000) / 16_000
        buzz = rng.uniform(0, 0.5) * np.sin(2 * np.pi * rng.uniform(100, 300) * t) * ((t % 0.3) < 0.15)
        out.append((buzz + rng.uniform(0.001, 0.1) * rng.normal(size=len(t))).astype(np.float32))
    return out


def test_many_noise_floors_together_give_each_its_own_numbers():
    """A server's tick advances every stream's floor at once (NoiseFloor.push_many): each
    stream gets what its floor alone gives, though they started at different moments (so
    their blocks end on different frames) and some are still settling."""
    audios = _streams_at_their_own_phases(9, 4)
    mels = [log_mel(a) for a in audios]
    alone, together = [NoiseFloor() for _ in mels], [NoiseFloor() for _ in mels]
    for j, (one, many, m) in enumerate(zip(alone, together, mels)):
        one.push(m[:7 * j]), many.push(m[:7 * j])  # frames 0, 7, 14 ... 56 heard before
    for k in range(80, 200, 2):
        frames = np.stack([m[k:k + 2] for m in mels])
        each = np.stack([f.push(x) for f, x in zip(alone, frames)])
        np.testing.assert_allclose(NoiseFloor.push_many(together, frames), each, atol=1e-6, rtol=0)
        assert [f._frame for f in together] == [f._frame for f in alone]


def test_many_streams_features_together_equal_their_own():
    """StreamingLogMel.push_many: any chunk sizes, empty ones too, one spectrum for all."""
    audios = _streams_at_their_own_phases(7, 5)
    rng = np.random.default_rng(6)
    alone = [StreamingLogMel(denoise=True) for _ in audios]
    together = [StreamingLogMel(denoise=True) for _ in audios]
    sent = [int(s) for s in rng.integers(0, 8_000, len(audios))]
    for f1, f2, a, s in zip(alone, together, audios, sent):
        f1.push(a[:s]), f2.push(a[:s])
    frames = 0
    for _ in range(60):
        sizes = rng.integers(0, 700, len(audios))
        chunks = [a[s:s + n] for a, s, n in zip(audios, sent, sizes)]
        sent = [s + len(c) for s, c in zip(sent, chunks)]
        for x, y in zip([f.push(c) for f, c in zip(alone, chunks)],
                        StreamingLogMel.push_many(together, chunks)):
            assert x.shape == y.shape
            # BLAS rounds a batch of spectra a little differently (1e-7), and where the
            # floor takes 99 % of a band off, the log shows it 100× larger.
            np.testing.assert_allclose(y, x, atol=5e-4, rtol=0)
            frames += len(x)
    assert frames > 500
