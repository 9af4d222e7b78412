"""NVIDIA Riva streaming recognition over gRPC (a local Riva server or NVIDIA-hosted NIMs).

Riva's ``StreamingRecognize`` is one bidirectional gRPC stream per turn: the first request
carries the :class:`StreamingRecognitionConfig`, every later one raw LINEAR_PCM audio, and
the server answers with interim results (the hypothesis so far) and final results (one per
endpointed phrase). Our :class:`RivaStream` feeds the request side from a queue that
``push()`` fills, and a daemon thread folds the answers into a :class:`RivaTranscript`, a
small pure class, so ``push()`` never waits on the network.

The connection (:mod:`bridge.speech.riva_endpoint`) is shared with the Riva TTS provider:
both speak to the same server with the same credentials.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator, Sequence

import numpy as np

from bridge.speech.asr.base import ASRError, PhraseTranscript
from bridge.speech.riva_endpoint import connect, riva_language

_RATE = 16000
#: Longest audio per request: Riva's default gRPC message limit is 4 MiB, and short
#: requests keep the interim results flowing.
_MAX_REQUEST_SECONDS = 0.5

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
        conn = connect(server, use_ssl, ssl_cert, api_key_env, function_id, metadata, ASRError)
        from riva.client.proto import riva_asr_pb2, riva_asr_pb2_grpc, riva_audio_pb2

        self._pb, self._audio_pb = riva_asr_pb2, riva_audio_pb2
        self._grpc, self.endpoint, self._metadata = conn.grpc, conn.endpoint, conn.metadata
        self._channel = conn.channel
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


__all__ = ["RivaASR", "RivaStream", "RivaTranscript"]
