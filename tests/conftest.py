"""Shared fixtures: the real TTS providers, loaded once per test run, and virtual time."""

from __future__ import annotations

import pytest

from bridge.speech.tts.espeak import EspeakTTS
from bridge.speech.tts.piper import PiperTTS
from bridge.speech.tts.registry import TTSRegistry
from tests.support.clock import InstantClock, VirtualClock


@pytest.fixture(scope="session")
def piper() -> PiperTTS:
    return PiperTTS()


@pytest.fixture(scope="session")
def espeak() -> EspeakTTS:
    return EspeakTTS()


@pytest.fixture(scope="session")
def registry(piper: PiperTTS, espeak: EspeakTTS) -> TTSRegistry:
    return TTSRegistry([piper, espeak])


@pytest.fixture
def instant_clock() -> InstantClock:
    """Virtual time for one paced task: ``sleep`` advances it at once (see tests/support/clock.py)."""
    return InstantClock()


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """Virtual time for several paced tasks: the earliest sleeper wakes next."""
    return VirtualClock()
