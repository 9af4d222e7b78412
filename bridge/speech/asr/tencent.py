"""Tencent Cloud speech recognition (``SentenceRecognition``, API 2019-06-14): Mandarin (and
Cantonese, English …) from Tencent's models, one signed request a turn.

The turn's audio is kept as it comes and sent whole when the turn ends (Tencent takes up to
60 s and 3 MB a sentence), as 16 kHz PCM; there are no partials. Keys come from the
environment, as for Tencent's voices (:mod:`bridge.speech.tts.tencent`)::

    [asr]
    provider = "tencent"
    engine = "16k_zh"           # Tencent's EngSerViceType: 16k_zh, 16k_en, 16k_yue, ...
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np

from bridge.speech.asr.base import ASRError, WholeTurnStream
from bridge.speech.tencent_api import TencentCall

SERVICE, VERSION, ACTION = "asr", "2019-06-14", "SentenceRecognition"
_RATE = 16000
MAX_SECONDS = 60.0


class TencentASR:
    """Args:
        engine: Tencent's ``EngSerViceType`` (a 16 kHz one).
        endpoint: the API's URL (``https://asr.intl.tencentcloudapi.com`` abroad, a test's).
        secret_id_env, secret_key_env: the environment variables holding the key pair.
        timeout: seconds one recognition may take.
    """

    name = "tencent"
    rate = _RATE

    def __init__(self, engine: str = "16k_zh", endpoint: str = "https://asr.tencentcloudapi.com",
                 secret_id_env: str = "TENCENTCLOUD_SECRET_ID",
                 secret_key_env: str = "TENCENTCLOUD_SECRET_KEY", timeout: float = 10.0) -> None:
        if not engine.startswith("16k_"):
            raise ASRError(f"tencent ASR engine {engine!r}: talkbridge sends 16 kHz audio, so "
                           "use a 16k_ engine (16k_zh, 16k_en, 16k_yue, ...)")
        self.engine = engine
        self._call = TencentCall("tencent ASR", SERVICE, VERSION, endpoint, None, secret_id_env,
                                 secret_key_env, timeout, ASRError)

    def new_stream(self, lang: str | None = None) -> TencentStream:
        return TencentStream(self._recognize)

    def _recognize(self, pcm: np.ndarray) -> str:
        data = (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        reply = self._call(ACTION, {"EngSerViceType": self.engine, "SourceType": 1,
                                    "VoiceFormat": "pcm", "Data": base64.b64encode(data).decode(),
                                    "DataLen": len(data)})
        return str(reply.get("Result") or "").strip()


class TencentStream(WholeTurnStream):
    """One turn: the audio, sent when it ends (the last 60 s of a longer one)."""

    def __init__(self, recognize: Callable[[np.ndarray], str]) -> None:
        super().__init__()
        self._recognize = recognize

    def _final_pass(self, audio: np.ndarray) -> str:
        return self._recognize(audio[-int(MAX_SECONDS * _RATE):])
