"""Shared fixtures: the real TTS providers, loaded once per test run."""

from __future__ import annotations

import pytest

from bridge.speech.tts.espeak import EspeakTTS
from bridge.speech.tts.piper import PiperTTS
from bridge.speech.tts.registry import TTSRegistry


@pytest.fixture(scope="session")
def piper() -> PiperTTS:
    return PiperTTS()


@pytest.fixture(scope="session")
def espeak() -> EspeakTTS:
    return EspeakTTS()


@pytest.fixture(scope="session")
def registry(piper: PiperTTS, espeak: EspeakTTS) -> TTSRegistry:
    return TTSRegistry([piper, espeak])
