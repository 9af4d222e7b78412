"""The network's corpus: which voices speak it, in what shares (``bridge/training.py``)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from blendshape.features import FRAME_RATE
from bridge.speech.tts.espeak import EspeakTTS
from bridge.speech.tts.piper import PiperTTS
from bridge.speech.tts.registry import TTSRegistry
from bridge.training import MBROLA_SKIP, SHARES, build_corpus, mbrola_voices, training_registry


def _minutes_by_kind(clips) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for clip in clips:
        out[clip.voice.split(":")[0]] += clip.duration / 60
    return out


def test_the_corpus_speaks_in_espeak_mbrola_and_piper_voices_in_their_shares() -> None:
    registry = training_registry()
    if not mbrola_voices(registry):
        pytest.skip("no MBROLA voices: apt-get install espeak-ng mbrola mbrola-us1")
    clips = build_corpus(registry, 1.5, seed=0)
    made = _minutes_by_kind(clips)
    for kind, share in SHARES.items():  # each kind stops at the first clip past its budget
        assert share * 1.5 <= made[kind] < share * 1.5 + 0.25, (kind, made)
    voices = {c.voice for c in clips if c.voice.startswith("mbrola:")}
    assert len(voices) >= 5 and not voices & {f"mbrola:{db}" for db in MBROLA_SKIP}
    for clip in clips:  # every voice's audio (16 or 22.05 kHz) becomes 16 kHz, aligned
        assert abs(len(clip.targets) - clip.duration * FRAME_RATE) <= 1
    assert registry.provider("piper").duration_noise == 0.0


def test_without_mbrola_espeak_takes_its_share() -> None:
    registry = TTSRegistry([PiperTTS(duration_noise=0.0), EspeakTTS()])
    assert mbrola_voices(registry) == []
    made = _minutes_by_kind(build_corpus(registry, 1.0, seed=0))
    assert set(made) == {"espeak", "piper"}
    assert SHARES["espeak"] + SHARES["mbrola"] <= made["espeak"] < 0.75 + 0.25
