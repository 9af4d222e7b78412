"""NVIDIA Riva text-to-speech over gRPC (a local Riva server or NVIDIA-hosted NIMs).

One unary ``Synthesize`` call per sentence, so the first sentence plays while the next is
synthesized, and every Riva release since 2.0 speaks it (``SynthesizeOnline`` changed shape
between releases). Riva returns LINEAR_PCM at the rate we ask for, but no phoneme timings:
the chunks carry an empty ``phonemes`` list, which tells the server to animate this audio
with its audio→face network.
"""

from __future__ import annotations

import re
from typing import Iterator, Mapping, Sequence

import numpy as np

from bridge.speech.riva_endpoint import connect, riva_language
from bridge.speech.sentences import streaming_pieces
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

DEFAULT_VOICES = ("English-US.Female-1",)
#: The language word of Riva's voice names ("English-US.Female-1") → its code.
_LANGUAGE_WORDS = {"english": "en", "spanish": "es", "german": "de", "french": "fr",
                   "italian": "it", "mandarin": "zh", "japanese": "ja", "russian": "ru",
                   "hindi": "hi", "portuguese": "pt", "korean": "ko", "arabic": "ar"}
_NAME_LANG = re.compile(r"(?:^|[.\-_])([A-Za-z]{2})-([A-Za-z]{2})(?:$|[.\-_])")
_WORD_LANG = re.compile(r"^([A-Za-z]+)-([A-Za-z]{2})\b")
#: A piece needs a letter or digit to be worth a request: Riva rejects punctuation only.
_SPEAKABLE = re.compile(r"\w")


def voice_language(name: str, default: str = "en-US") -> str:
    """The language code of a Riva voice name.

    ``English-US.Female-1`` → ``en-US``; ``Magpie-Multilingual.EN-US.Aria`` → ``en-US``;
    a name without a language falls back to ``default``.
    """
    word = _WORD_LANG.match(name)
    if word and word.group(1).lower() in _LANGUAGE_WORDS:
        return f"{_LANGUAGE_WORDS[word.group(1).lower()]}-{word.group(2).upper()}"
    code = _NAME_LANG.search(name)
    if code:
        return f"{code.group(1).lower()}-{code.group(2).upper()}"
    return riva_language(default)


def _voice(entry: str | Mapping[str, str], default_lang: str) -> Voice:
    """A ``voices`` option entry (a name, or ``{"name": …, "lang": …}``) → a Voice."""
    if isinstance(entry, str):
        name, lang = entry, voice_language(entry, default_lang)
    else:
        name = str(entry["name"])
        lang = riva_language(str(entry.get("lang") or voice_language(name, default_lang)))
    return Voice(id=f"riva:{name}", provider="riva", name=name, lang=lang, aliases=(name,),
                 description=f"NVIDIA Riva voice {name}")


class RivaTTS:
    """Riva speech synthesis; one shared gRPC channel, one call per sentence.

    Args:
        server, use_ssl, ssl_cert, api_key_env, function_id, metadata: the connection, as
            for :class:`bridge.speech.asr.riva.RivaASR` (:mod:`bridge.speech.riva_endpoint`).
        voices: the voices deployed on the server, by name (``"English-US.Female-1"``) or as
            ``{"name": …, "lang": …}``; listing them needs no round trip at start-up.
        language_code: the language of voices whose name does not say it.
        sample_rate: the rate asked of Riva (its vocoders resample to it).
        timeout: gRPC deadline, in seconds, of each sentence's synthesis.
    """

    name = "riva"

    def __init__(self, server: str = "localhost:50051", use_ssl: bool = False,
                 ssl_cert: str | None = None, api_key_env: str | None = None,
                 function_id: str | None = None,
                 metadata: Sequence[Sequence[str]] | None = None,
                 voices: Sequence[str | Mapping[str, str]] = DEFAULT_VOICES,
                 language_code: str = "en-US", sample_rate: int = 44100,
                 timeout: float = 10.0) -> None:
        conn = connect(server, use_ssl, ssl_cert, api_key_env, function_id, metadata, TTSError)
        from riva.client.proto import riva_audio_pb2, riva_tts_pb2, riva_tts_pb2_grpc

        self._pb, self._encoding = riva_tts_pb2, riva_audio_pb2.AudioEncoding.LINEAR_PCM
        self._grpc, self.endpoint, self._metadata = conn.grpc, conn.endpoint, conn.metadata
        if not voices:
            raise TTSError("the riva TTS provider needs at least one voice in its voices option")
        self._voices = [_voice(v, language_code) for v in voices]
        self._channel = conn.channel
        self._stub = riva_tts_pb2_grpc.RivaSpeechSynthesisStub(self._channel)
        self.sample_rate = int(sample_rate)
        self.timeout = timeout

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        for piece in streaming_pieces(text):
            if _SPEAKABLE.search(piece):
                yield self._synthesize_piece(piece, voice)

    def _synthesize_piece(self, piece: str, voice: Voice) -> SpeechChunk:
        request = self._pb.SynthesizeSpeechRequest(
            text=piece, language_code=riva_language(voice.lang), encoding=self._encoding,
            sample_rate_hz=self.sample_rate, voice_name=voice.name)
        try:
            response = self._stub.Synthesize(request, metadata=self._metadata,
                                             timeout=self.timeout)
        except self._grpc.RpcError as exc:
            raise TTSError(self.endpoint.describe(exc, f"synthesis with voice {voice.name!r}")) \
                from None
        return self.chunk(response.audio, piece, voice)

    def chunk(self, audio: bytes, piece: str, voice: Voice) -> SpeechChunk:
        """Riva's LINEAR_PCM bytes (16-bit, little-endian, at our rate) → a SpeechChunk."""
        if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
            audio = _wav_payload(audio)
        if len(audio) < 2:
            raise TTSError(f"Riva returned no audio for {piece!r} (voice {voice.name}); "
                           f"see the Riva server log")
        pcm = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2").astype(np.float32)
        return SpeechChunk(pcm=pcm / 32768.0, rate=self.sample_rate, phonemes=[], text=piece,
                           alphabet="ipa", lang=voice.lang, meta={"provider": "riva"})

    def close(self) -> None:
        self._channel.close()


def _wav_payload(data: bytes) -> bytes:
    """The ``data`` chunk of a RIFF/WAVE file (some gateways wrap Riva's PCM in one)."""
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        if data[pos:pos + 4] == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    return b""
