"""NVIDIA Riva streaming recognition over gRPC (a local Riva server or NVIDIA-hosted NIMs).

Riva's ``StreamingRecognize`` is one bidirectional gRPC stream per turn: the first request
carries the :class:`StreamingRecognitionConfig`, every later one raw LINEAR_PCM audio, and
the server answers with interim results (the hypothesis so far) and final results (one per
endpointed phrase). Our :class:`RivaStream` feeds the request side from a queue that
``push()`` fills, and a daemon thread folds the answers into a :class:`RivaTranscript`, a
small pure class, so ``push()`` never waits on the network.

The connection helpers (:class:`RivaEndpoint`, :func:`describe_rpc_error`) are shared with
the Riva TTS provider: both speak to the same server with the same credentials.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from bridge.speech.asr.base import ASRError, PhraseTranscript
from bridge.speech.locale import locale_code

INSTALL_HINT = "pip install talkbridge[riva]"
_RATE = 16000
#: Longest audio per request: Riva's default gRPC message limit is 4 MiB, and short
#: requests keep the interim results flowing.
_MAX_REQUEST_SECONDS = 0.5
#: Bare language codes → the BCP-47 codes Riva's models are deployed under.
_LANGUAGES = {"en": "en-US", "es": "es-US", "de": "de-DE", "fr": "fr-FR", "it": "it-IT",
              "pt": "pt-BR", "ru": "ru-RU", "ja": "ja-JP", "ko": "ko-KR", "hi": "hi-IN",
              "zh": "zh-CN", "cmn": "zh-CN", "ar": "ar-AR", "nl": "nl-NL"}
_HINTS = {
    "UNAVAILABLE": "is the Riva server running and reachable at {server}? (start it with "
                   "riva_start.sh; for NVIDIA-hosted endpoints use server="
                   "'grpc.nvcf.nvidia.com:443', use_ssl=True and a function_id)",
    "UNAUTHENTICATED": "check the API key in the environment variable {key_env} "
                       "(and the function_id, for NVIDIA-hosted endpoints)",
    "PERMISSION_DENIED": "the API key in {key_env} is not allowed to use this function: "
                         "check the key and the function_id",
    "DEADLINE_EXCEEDED": "the server gave no answer in time: check its load or the network, "
                         "or raise the timeout option",
    "INVALID_ARGUMENT": "the server rejected the request: check language_code, the sample "
                        "rate and the model or voice names against the models deployed",
    "NOT_FOUND": "the model or voice is not deployed on this server",
    "RESOURCE_EXHAUSTED": "the server is out of capacity or quota: retry later",
    "UNIMPLEMENTED": "this server does not offer this Riva service (is it enabled in "
                     "Riva's config.sh?)",
}


def import_grpc() -> Any:
    """The ``grpc`` module once Riva's client is importable, else ImportError with the hint."""
    try:
        import grpc

        importlib.import_module("riva.client.proto")  # the stubs every caller needs next
    except ImportError as exc:
        raise ImportError(f"the NVIDIA Riva client is not installed: {INSTALL_HINT}") from exc
    return grpc


def riva_language(lang: str) -> str:
    """``en`` → ``en-US``; ``fr_fr`` → ``fr-FR``; anything else is passed through."""
    return locale_code(lang, _LANGUAGES)


@dataclass(frozen=True)
class RivaEndpoint:
    """Where Riva is and how to authenticate: one gRPC channel shared by every call.

    ``api_key_env`` names the environment variable holding an NVIDIA API key (sent as
    ``authorization: Bearer …``); ``function_id`` selects the NIM on NVIDIA's hosted
    endpoint (``grpc.nvcf.nvidia.com:443``). Keys never go in config files.
    """

    server: str = "localhost:50051"
    use_ssl: bool = False
    ssl_cert: str | None = None
    api_key_env: str | None = None
    function_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def call_metadata(self) -> list[tuple[str, str]]:
        """Per-call gRPC metadata; raises ValueError when the named key variable is unset."""
        pairs = [(k.lower(), v) for k, v in self.metadata]
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "").strip()
            if not key:
                raise ValueError(f"no Riva API key: set the environment variable "
                                 f"{self.api_key_env} (or drop the api_key_env option for a "
                                 f"local server without authentication)")
            pairs.append(("authorization", f"Bearer {key}"))
        if self.function_id:
            pairs.append(("function-id", self.function_id))
        return pairs

    def channel(self, grpc: Any) -> Any:
        """A lazily connecting channel (nothing touches the network until the first call)."""
        options = [("grpc.max_receive_message_length", 64 << 20),
                   ("grpc.max_send_message_length", 64 << 20)]
        if not (self.use_ssl or self.ssl_cert):
            return grpc.insecure_channel(self.server, options=options)
        root = None
        if self.ssl_cert:
            with open(os.path.expanduser(self.ssl_cert), "rb") as handle:
                root = handle.read()
        return grpc.secure_channel(self.server, grpc.ssl_channel_credentials(root), options=options)

    def describe(self, exc: Any, what: str, mid_stream: bool = False) -> str:
        """An RpcError → one actionable sentence: status, the server's words, the fix."""
        return describe_rpc_error(exc, what, self.server, self.api_key_env, mid_stream)


def describe_rpc_error(exc: Any, what: str, server: str, key_env: str | None,
                       mid_stream: bool = False) -> str:
    """``Riva recognition at … failed: UNAUTHENTICATED (bad key); check the API key in …``.

    ``mid_stream``: the stream had already answered, so UNAVAILABLE means a lost
    connection rather than a server that is not there.
    """
    code_fn = getattr(exc, "code", None)
    code = code_fn() if callable(code_fn) else None
    name = getattr(code, "name", None) or "UNKNOWN"
    details_fn = getattr(exc, "details", None)
    details = (details_fn() if callable(details_fn) else None) or str(exc)
    if mid_stream and name in ("UNAVAILABLE", "CANCELLED", "INTERNAL", "UNKNOWN"):
        hint = ("the connection was lost mid-stream (a server restart or the network); "
                "this turn is lost, the next one reconnects")
    else:
        hint = _HINTS.get(name, "see the Riva server log").format(
            server=server, key_env=key_env or "named by the api_key_env option")
    return f"Riva {what} at {server} failed: {name} ({details}); {hint}"


class RivaTranscript(PhraseTranscript):
    """Streaming responses in → the partial and final text out. Thread-safe.

    Riva sends each endpointed phrase once as a final result; until then, interim results
    carry the phrase so far (split across several results, which are concatenated, as
    Riva's own client does). The final transcript is the turn's final phrases joined.
    """

    def feed(self, response: Any) -> None:
        """Fold one ``StreamingRecognizeResponse``."""
        interim: list[str] = []
        with self._lock:
            for result in response.results:
                if not result.alternatives:
                    continue
                text = result.alternatives[0].transcript
                if result.is_final:
                    if text.strip():
                        self._phrases.append(text.strip())
                    self._current = ""
                else:
                    interim.append(text)
            if interim:
                self._current = "".join(interim).strip()

    def fail(self, error: ASRError) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        self.done.set()



class RivaASR:
    """Riva streaming speech recognition; one gRPC stream per turn over one shared channel.

    Args:
        server: ``host:port`` of Riva's gRPC endpoint.
        use_ssl: TLS (required by NVIDIA-hosted endpoints); ``ssl_cert``: a root CA file.
        api_key_env: environment variable holding an NVIDIA API key (None: no auth).
        function_id: the NIM's function id on NVIDIA's hosted endpoint.
        metadata: extra gRPC metadata pairs sent with every call.
        language_code: default language when a stream gives none (``en-US``).
        timeout: seconds finish() waits for the final result after the end of speech.
        rate: sample rate of the audio push() takes and Riva receives.
        model: a Riva ASR model name, when several are deployed for one language.
        punctuation: ask for automatic punctuation.
        max_turn_seconds: gRPC deadline of one turn's stream, a guard against leaks.
    """

    name = "riva"

    def __init__(self, server: str = "localhost:50051", use_ssl: bool = False,
                 ssl_cert: str | None = None, api_key_env: str | None = None,
                 function_id: str | None = None,
                 metadata: Sequence[Sequence[str]] | None = None,
                 language_code: str = "en-US", timeout: float = 10.0, rate: int = _RATE,
                 model: str = "", punctuation: bool = True,
                 max_turn_seconds: float = 300.0) -> None:
        try:
            self._grpc = import_grpc()
        except ImportError as exc:
            raise ASRError(str(exc)) from exc
        from riva.client.proto import riva_asr_pb2, riva_asr_pb2_grpc, riva_audio_pb2

        self._pb, self._audio_pb = riva_asr_pb2, riva_audio_pb2
        self.endpoint = RivaEndpoint(server, use_ssl, ssl_cert, api_key_env, function_id,
                                     tuple((str(k), str(v)) for k, v in (metadata or ())))
        try:
            self._metadata = self.endpoint.call_metadata()
        except ValueError as exc:
            raise ASRError(str(exc)) from None
        self._channel = self.endpoint.channel(self._grpc)
        self._stub = riva_asr_pb2_grpc.RivaSpeechRecognitionStub(self._channel)
        self.language_code = language_code
        self.timeout = timeout
        self.rate = int(rate)
        self.model = model
        self.punctuation = punctuation
        self.max_turn_seconds = max_turn_seconds

    def streaming_config(self, lang: str | None = None) -> Any:
        """The config the first request of every stream carries."""
        config = self._pb.RecognitionConfig(
            encoding=self._audio_pb.AudioEncoding.LINEAR_PCM, sample_rate_hertz=self.rate,
            language_code=riva_language(lang or self.language_code), max_alternatives=1,
            audio_channel_count=1, enable_automatic_punctuation=self.punctuation,
            model=self.model)
        return self._pb.StreamingRecognitionConfig(config=config, interim_results=True)

    def new_stream(self, lang: str | None = None) -> "RivaStream":
        return RivaStream(self, self.streaming_config(lang))

    def close(self) -> None:
        """Close the shared channel (streams still open fail with CANCELLED)."""
        self._channel.close()


class RivaStream:
    """One turn: a request queue feeding ``StreamingRecognize``, a thread reading answers."""

    def __init__(self, asr: RivaASR, config: Any) -> None:
        self._asr = asr
        self._pb = asr._pb
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self._closed = False       # no more audio: finish() or cancel() was called
        self._cancelled = False
        self._final: str | None = None
        self.transcript = RivaTranscript()
        self._call = asr._stub.StreamingRecognize(
            self._request_iterator(config), metadata=asr._metadata,
            timeout=asr.max_turn_seconds)
        self._reader = threading.Thread(target=self._read, name="riva-asr-reader", daemon=True)
        self._reader.start()

    def _request_iterator(self, config: Any) -> Iterator[Any]:
        yield self._pb.StreamingRecognizeRequest(streaming_config=config)
        while True:
            chunk = self._requests.get()
            if chunk is None:
                return  # half-close: Riva finalizes the last phrase and ends the stream
            yield self._pb.StreamingRecognizeRequest(audio_content=chunk)

    def _read(self) -> None:
        grpc = self._asr._grpc
        answered = False
        try:
            for response in self._call:
                answered = True
                self.transcript.feed(response)
            if not self._closed:
                self.transcript.fail(ASRError(
                    f"Riva at {self._asr.endpoint.server} ended the recognition stream "
                    f"before the end of the turn; see the Riva server log"))
        except grpc.RpcError as exc:
            if not self._cancelled:
                self.transcript.fail(ASRError(
                    self._asr.endpoint.describe(exc, "recognition", mid_stream=answered)))
        except Exception as exc:  # a malformed response: surface it, never hang finish()
            self.transcript.fail(ASRError(f"bad Riva recognition response: {exc!r}"))
        finally:
            self._requests.put(None)  # release gRPC's request thread if the call died first
            self.transcript.done.set()

    def push(self, pcm: np.ndarray) -> str | None:
        if self._closed:
            raise ASRError("this recognition stream is finished or cancelled; start a new one")
        self._raise_error()
        samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
        if samples.size:
            data = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
            step = int(self._asr.rate * _MAX_REQUEST_SECONDS) * 2
            for start in range(0, len(data), step):
                self._requests.put(data[start:start + step])
        return self.transcript.take_partial()

    def finish(self) -> str:
        if self._final is not None:
            return self._final
        self._raise_error()
        if not self._closed:
            self._closed = True
            self._requests.put(None)
        timeout = self._asr.timeout
        if not self.transcript.done.wait(timeout):
            self.cancel()
            raise ASRError(f"Riva at {self._asr.endpoint.server} gave no final result within "
                           f"{timeout:g} s of the end of speech; check the server's load and "
                           f"the network, or raise the timeout option")
        self._raise_error()
        self._final = self.transcript.final
        return self._final

    def cancel(self) -> None:
        self._cancelled = True
        if not self._closed:
            self._closed = True
            self._requests.put(None)
        self._call.cancel()

    def _raise_error(self) -> None:
        if self.transcript.error is not None:
            raise self.transcript.error


__all__ = ["RivaASR", "RivaStream", "RivaTranscript", "RivaEndpoint", "describe_rpc_error",
           "riva_language", "import_grpc", "INSTALL_HINT"]
