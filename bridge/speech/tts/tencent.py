"""Tencent Cloud Text To Speech (``TextToVoice``, API 2019-08-23): Chinese cloud voices whose
per-character timestamps animate the face.

``EnableSubtitle`` makes Tencent return each character's start and end in the audio and its
pinyin (``Phoneme``: ``ba4``); :mod:`blendshape.pinyin` turns a syllable into its initial and
final, which share the character's time (the initial a third, as a consonant is short), so a
Mandarin ``say`` closes the lips on b/p/m and rounds them on u/ü/o as Piper's voices do.

The request is plain HTTPS JSON signed with TC3-HMAC-SHA256 (Tencent Cloud API 3.0): no SDK
to install. Keys come from the environment (``TENCENTCLOUD_SECRET_ID``,
``TENCENTCLOUD_SECRET_KEY``), never from the config file. ``endpoint`` points elsewhere for
the international site (``https://tts.intl.tencentcloudapi.com``) or a test server::

    [tts.tencent]
    region = "ap-guangzhou"
    voices = [101001]            # VoiceType ids; say.voice = "tencent:101001"
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Sequence

import numpy as np

from blendshape.phonemes import PhonemeSpan
from blendshape.pinyin import INITIALS, UnknownSyllable, syllable_phonemes
from bridge.speech.sentences import split_sentences
from bridge.speech.tencent_api import TencentCall
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

SERVICE, VERSION, ACTION = "tts", "2019-08-23", "TextToVoice"
RATES = (8000, 16000, 24000)
#: Tencent takes at most 150 Chinese characters (or 500 letters) a request.
MAX_CHARS = 150
#: Share of a character's time its initial consonant takes; the final has the rest.
INITIAL_SHARE = 0.35
_INITIAL_SOUNDS = {sound for sound in INITIALS.values() if sound}


def subtitle_phonemes(subtitles: Sequence[dict], duration: float) -> list[PhonemeSpan]:
    """Tencent's ``Subtitles`` (ms, pinyin) → timed IPA phonemes over ``duration`` seconds;
    what no character covers is a pause ``_``."""
    spans: list[PhonemeSpan] = []
    at = 0.0
    for sub in subtitles:
        start, end = sub.get("BeginTime", 0) / 1000.0, sub.get("EndTime", 0) / 1000.0
        try:
            phones = syllable_phonemes(str(sub.get("Phoneme") or ""))
        except UnknownSyllable:
            continue  # punctuation, a letter, a digit read out: timing only
        if end <= start:
            continue
        if start > at:
            spans.append(PhonemeSpan("_", at, start))
        has_initial = len(phones) > 1 and phones[0] in _INITIAL_SOUNDS
        first_end = start + (end - start) * INITIAL_SHARE if has_initial else start
        if has_initial:
            spans.append(PhonemeSpan(phones[0], start, first_end))
            phones = phones[1:]
        step = (end - first_end) / len(phones)
        spans += [PhonemeSpan(p, first_end + i * step, first_end + (i + 1) * step)
                  for i, p in enumerate(phones)]
        at = end
    if duration > at:
        spans.append(PhonemeSpan("_", at, duration))
    return spans


class TencentTTS:
    """Tencent Cloud voices; one signed HTTPS request a sentence.

    Args:
        region: the API region (``ap-guangzhou``, ``ap-beijing`` …).
        voices: VoiceType ids offered; voice ids are ``tencent:<VoiceType>``.
        rate: 8000, 16000 or 24000 Hz.
        endpoint: the API's URL.
        secret_id_env, secret_key_env: the environment variables holding the key pair.
        timeout: seconds one request may take.
    """

    name = "tencent"

    def __init__(self, region: str = "ap-guangzhou", voices: Sequence[int] = (101001,),
                 rate: int = 16000, endpoint: str = "https://tts.tencentcloudapi.com",
                 secret_id_env: str = "TENCENTCLOUD_SECRET_ID",
                 secret_key_env: str = "TENCENTCLOUD_SECRET_KEY", timeout: float = 10.0) -> None:
        if rate not in RATES:
            raise TTSError(f"tencent TTS cannot synthesize at {rate} Hz; valid rates: "
                           f"{', '.join(map(str, RATES))}")
        if not voices:
            raise TTSError("the tencent TTS provider needs at least one VoiceType in voices")
        self.region, self.rate, self.endpoint, self.timeout = region, rate, endpoint, timeout
        self._call = TencentCall("tencent TTS", SERVICE, VERSION, endpoint, region, secret_id_env,
                                 secret_key_env, timeout, TTSError)
        self._voices = [Voice(f"tencent:{int(v)}", self.name, f"Tencent {int(v)}", "zh-cn")
                        for v in voices]

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        """One request a sentence (sentences over 150 characters are cut), made lazily."""
        for sentence in split_sentences(text) or [text]:
            for start in range(0, len(sentence), MAX_CHARS):
                piece = sentence[start:start + MAX_CHARS].strip()
                if piece:
                    yield self._chunk(piece, voice)

    def _chunk(self, text: str, voice: Voice) -> SpeechChunk:
        reply = self._request({
            "Text": text, "SessionId": uuid.uuid4().hex, "VoiceType": int(voice.id.split(":")[1]),
            "Codec": "pcm", "SampleRate": self.rate, "PrimaryLanguage": 1, "EnableSubtitle": True,
        })
        try:
            audio = base64.b64decode(reply["Audio"])
        except (KeyError, ValueError, TypeError) as exc:
            raise TTSError(f"tencent TTS answered without audio ({exc!r:.60})") from None
        pcm = np.frombuffer(audio[:len(audio) - len(audio) % 2], "<i2").astype(np.float32) / 32768
        duration = len(pcm) / self.rate
        return SpeechChunk(pcm, self.rate, subtitle_phonemes(reply.get("Subtitles") or [], duration),
                           text, "ipa", "cmn", {"request_id": reply.get("RequestId")})

    def _request(self, payload: dict) -> dict:
        return self._call(ACTION, payload)
