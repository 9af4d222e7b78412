"""A local Riva server for tests: Riva's own gRPC services, real HTTP/2 on loopback.

It implements ``RivaSpeechRecognition.StreamingRecognize`` and
``RivaSpeechSynthesis.Synthesize`` with the servicer base classes that nvidia-riva-client
ships, so the client code under test talks the exact wire protocol it talks to a real Riva.
It checks what real Riva checks and rejects with the same status codes: the config must
come first and only first, LINEAR_PCM, a sample rate Riva accepts, a deployed language or
voice, whole 16-bit samples, and (when ``api_key`` is set) ``authorization: Bearer <key>``.

Recognition is scripted: the words of ``script`` are "spoken" at ``seconds_per_word``, so
the interim transcript grows in proportion to the audio received, each phrase is final
once ``endpoint_s`` of audio follows it (Riva's endpointing), and the rest is final when
the client half-closes. Synthesis returns real audio at the requested rate: a voiced,
syllable-modulated tone ``seconds_per_char`` long per character, or espeak-ng speech.

Faults (``fault=``): ``"unauthenticated"`` (every call), ``"hang"`` (accept, never answer),
``"drop"`` (the server goes away mid-stream, as on a lost connection), ``"close"`` (end
the stream with OK mid-turn, without a final).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import grpc
import numpy as np
from riva.client.proto import (
    riva_asr_pb2,
    riva_asr_pb2_grpc,
    riva_audio_pb2,
    riva_tts_pb2,
    riva_tts_pb2_grpc,
)

LINEAR_PCM = riva_audio_pb2.AudioEncoding.LINEAR_PCM
#: Sample rates Riva's ASR front end and TTS vocoders accept.
RATES = range(8000, 48001)
FAULTS = (None, "unauthenticated", "hang", "drop", "close")


@dataclass(frozen=True)
class _Word:
    text: str
    start: float      # seconds of audio at which the word begins
    phrase: int


def _timeline(script: Sequence[str], seconds_per_word: float,
              endpoint_s: float) -> tuple[list[_Word], list[float]]:
    """Every word's start time, and the time at which each phrase is endpointed (final)."""
    words: list[_Word] = []
    finals: list[float] = []
    t = 0.0
    for i, phrase in enumerate(script):
        for word in phrase.split():
            words.append(_Word(word, t, i))
            t += seconds_per_word
        finals.append(t + endpoint_s)
        t += endpoint_s
    return words, finals


class ScriptedRecognizer:
    """Audio bytes in → Riva responses out, as a real streaming recognizer paces them."""

    def __init__(self, script: Sequence[str], rate: int, seconds_per_word: float,
                 endpoint_s: float) -> None:
        self._words, self._final_at = _timeline(script, seconds_per_word, endpoint_s)
        self._rate = rate
        self._bytes = 0
        self._finalized = 0  # phrases already sent as final

    @property
    def seconds(self) -> float:
        return self._bytes / 2 / self._rate

    def audio(self, n_bytes: int) -> list[Any]:
        self._bytes += n_bytes
        out = []
        while self._finalized < len(self._final_at) and self.seconds >= self._final_at[self._finalized]:
            out.append(self._response(self._finalized, final=True))
            self._finalized += 1
        if self._finalized < len(self._final_at) and self._heard(self._finalized):
            out.append(self._response(self._finalized, final=False))
        return out

    def end(self) -> list[Any]:
        """The client half-closed: whatever was heard of the open phrase becomes final."""
        if self._finalized < len(self._final_at) and self._heard(self._finalized):
            return [self._response(self._finalized, final=True)]
        return []

    def _heard(self, phrase: int) -> list[str]:
        return [w.text for w in self._words if w.phrase == phrase and w.start < self.seconds]

    def _response(self, phrase: int, final: bool) -> Any:
        text = " ".join(self._heard(phrase))
        alt = riva_asr_pb2.SpeechRecognitionAlternative(
            transcript=text + " " if final else text, confidence=0.93 if final else 0.0)
        result = riva_asr_pb2.StreamingRecognitionResult(
            alternatives=[alt], is_final=final, stability=1.0 if final else 0.1,
            audio_processed=self.seconds)
        return riva_asr_pb2.StreamingRecognizeResponse(results=[result])


def speech_like(n_samples: int, rate: int) -> np.ndarray:
    """A voiced 130 Hz buzz, 4 syllables a second: loud and rhythmic enough to animate."""
    t = np.arange(n_samples) / rate
    voiced = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 6))
    syllables = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)
    return (0.3 * voiced * syllables).astype(np.float32)


@dataclass
class FakeRiva:
    """The fake server; use as a context manager. ``address`` is ``127.0.0.1:<port>``."""

    script: Sequence[str] = ("hello there", "how are you today")
    seconds_per_word: float = 0.25
    endpoint_s: float = 0.4
    languages: Sequence[str] = ("en-US", "de-DE")
    voices: dict[str, str] = field(default_factory=lambda: {
        "English-US.Female-1": "en-US", "English-US.Male-1": "en-US"})
    api_key: str | None = None
    fault: str | None = None
    fault_after_s: float = 0.5
    seconds_per_char: float = 0.06
    speech: str = "tone"          # "tone" or "espeak"
    #: What the server saw: recognition configs, TTS requests, every call's metadata.
    seen_configs: list[Any] = field(default_factory=list)
    seen_tts: list[Any] = field(default_factory=list)
    seen_metadata: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.fault in FAULTS, self.fault
        self._server: grpc.Server | None = None
        self.address = ""

    def __enter__(self) -> "FakeRiva":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        riva_asr_pb2_grpc.add_RivaSpeechRecognitionServicer_to_server(_ASR(self), server)
        riva_tts_pb2_grpc.add_RivaSpeechSynthesisServicer_to_server(_TTS(self), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server, self.address = server, f"127.0.0.1:{port}"
        return self.address

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    # -- shared checks ------------------------------------------------------------------

    def admit(self, context: grpc.ServicerContext) -> None:
        """Record the metadata; refuse as Riva behind an API gateway does."""
        metadata = {k: v for k, v in context.invocation_metadata()}
        self.seen_metadata.append(metadata)
        if self.fault == "unauthenticated":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid or expired API key")
        if self.api_key is not None and metadata.get("authorization") != f"Bearer {self.api_key}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or invalid authorization header")

    def hang(self, context: grpc.ServicerContext) -> None:
        """Never answer; return once the client gives up (cancel or deadline)."""
        gone = threading.Event()
        context.add_callback(gone.set)
        gone.wait(30.0)

    def drop(self) -> None:
        """The whole server goes away at once: every open stream is cut."""
        assert self._server is not None
        self._server.stop(grace=None)

    def synthesize_audio(self, text: str, rate: int) -> np.ndarray:
        if self.speech == "espeak":
            return _espeak(text, rate)
        n = int(round(max(len(text), 1) * self.seconds_per_char * rate))
        return speech_like(n, rate)


def _espeak(text: str, rate: int) -> np.ndarray:
    import soxr

    from bridge.speech.tts.espeak import EspeakTTS

    tts = EspeakTTS()
    voice = next(v for v in tts.voices() if v.lang == "en-us")
    chunks = list(tts.synthesize(text, voice))
    pcm = np.concatenate([c.pcm for c in chunks])
    return soxr.resample(pcm, chunks[0].rate, rate).astype(np.float32)


class _ASR(riva_asr_pb2_grpc.RivaSpeechRecognitionServicer):
    def __init__(self, fake: FakeRiva) -> None:
        self.fake = fake

    def StreamingRecognize(self, request_iterator: Iterator[Any],
                           context: grpc.ServicerContext) -> Iterator[Any]:
        fake = self.fake
        fake.admit(context)
        first = next(request_iterator, None)
        if first is None or not first.HasField("streaming_config"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "Error: first StreamingRecognizeRequest must contain streaming_config")
        config = first.streaming_config.config
        self._check_config(config, context)
        fake.seen_configs.append(first.streaming_config)
        if fake.fault == "hang":
            fake.hang(context)
            return
        recognizer = ScriptedRecognizer(fake.script, config.sample_rate_hertz,
                                        fake.seconds_per_word, fake.endpoint_s)
        for request in request_iterator:
            if request.HasField("streaming_config"):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "Error: streaming_config is only allowed in the first request")
            if len(request.audio_content) % 2:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "Error: LINEAR_PCM audio must be whole 16-bit samples")
            yield from recognizer.audio(len(request.audio_content))
            if recognizer.seconds >= fake.fault_after_s and fake.fault in ("drop", "close"):
                if fake.fault == "drop":
                    fake.drop()
                    time.sleep(0.05)  # let the cut reach the client before anything else
                return
        yield from recognizer.end()

    def _check_config(self, config: Any, context: grpc.ServicerContext) -> None:
        if config.encoding != LINEAR_PCM:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: unsupported encoding {config.encoding} (this server: LINEAR_PCM)")
        if config.sample_rate_hertz not in RATES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: unsupported sample rate {config.sample_rate_hertz}")
        if config.audio_channel_count not in (0, 1):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Error: only mono audio is supported")
        if config.language_code not in self.fake.languages:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: Unavailable model requested given these parameters: "
                          f"language_code={config.language_code}; sample_rate="
                          f"{config.sample_rate_hertz}; type=online;")


class _TTS(riva_tts_pb2_grpc.RivaSpeechSynthesisServicer):
    def __init__(self, fake: FakeRiva) -> None:
        self.fake = fake

    def Synthesize(self, request: Any, context: grpc.ServicerContext) -> Any:
        fake = self.fake
        fake.admit(context)
        fake.seen_tts.append(request)
        if fake.fault == "hang":
            fake.hang(context)
            context.abort(grpc.StatusCode.CANCELLED, "client gone")
        if fake.fault == "drop":
            fake.drop()
            time.sleep(0.05)
            context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")
        self._check(request, context)
        pcm = fake.synthesize_audio(request.text, request.sample_rate_hz)
        audio = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
        meta = riva_tts_pb2.SynthesizeSpeechResponseMetadata(
            text=request.text, processed_text=request.text.lower())
        return riva_tts_pb2.SynthesizeSpeechResponse(audio=audio, meta=meta)

    def _check(self, request: Any, context: grpc.ServicerContext) -> None:
        if not request.text.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Error: input text is empty")
        if request.encoding != LINEAR_PCM:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: unsupported encoding {request.encoding}")
        if request.sample_rate_hz not in RATES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: unsupported sample rate {request.sample_rate_hz}")
        voice_lang = self.fake.voices.get(request.voice_name)
        if voice_lang is None or voice_lang != request.language_code:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Error: Model is not available on server: voice_name="
                          f"{request.voice_name}; language_code={request.language_code}")
