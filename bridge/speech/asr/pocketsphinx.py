"""PocketSphinx: the offline English recognizer, with the model its wheel ships.

A PocketSphinx ``Decoder`` is expensive to build (0.3-0.5 s and ~95 MB, mostly the
130k-word language model's search trees) and cheap to reuse, so the provider keeps a pool:
a stream borrows a decoder for one turn and gives it back on finish() or cancel(). Creating
a stream is then a pool pop plus ``start_utt()``. Each returned decoder has its feature
extraction rebuilt (``reinit_feat``, ~0.1 ms): the cepstral mean *and* the noise-removal
statistics, which PocketSphinx otherwise carries from one utterance to the next, so a result
never depends on which session used the decoder before.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from bridge.speech.asr.base import ASRError, PartialGate

_INSTALL_HINT = "pip install pocketsphinx (a talkbridge dependency)"
_MODELS_URL = "https://sourceforge.net/projects/cmusphinx/files/Acoustic%20and%20Language%20Models/"
_RATE = 16000


def _no_sounddevice() -> types.ModuleType:
    """A stand-in for ``sounddevice`` that fails only when someone records with it."""
    stub = types.ModuleType("sounddevice")

    def __getattr__(name: str) -> Any:
        raise OSError("PortAudio library not found (talkbridge only decodes pushed audio)")

    stub.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return stub


def import_pocketsphinx(importer: Callable[[str], Any] = importlib.import_module) -> Any:
    """Import ``pocketsphinx`` even where PortAudio is missing.

    The package depends on ``sounddevice`` for its microphone helpers, and ``sounddevice``
    raises OSError at import without PortAudio. Current releases import it lazily, but a
    release that imported it eagerly would make recognition of pushed audio (all we do)
    fail on a headless server, so on OSError the import is retried with a stub in place.
    """
    try:
        return importer("pocketsphinx")
    except ImportError as exc:
        raise ASRError(f"PocketSphinx is not installed: {_INSTALL_HINT}") from exc
    except OSError:
        stub = _no_sounddevice()
        previous = sys.modules.get("sounddevice")
        sys.modules["sounddevice"] = stub
        try:
            return importer("pocketsphinx")
        except (ImportError, OSError) as exc:
            raise ASRError(f"PocketSphinx failed to import: {exc}; {_INSTALL_HINT}") from exc
        finally:
            if sys.modules.get("sounddevice") is stub:  # let later imports try the real one
                if previous is None:
                    del sys.modules["sounddevice"]
                else:
                    sys.modules["sounddevice"] = previous


def _primary(lang: str) -> str:
    return lang.strip().lower().replace("_", "-").split("-")[0]


class _DecoderPool:
    """Idle decoders, ready for the next turn; grows to peak concurrency, bounded if asked."""

    def __init__(self, factory: Callable[[], Any], keep_idle: int, max_decoders: int | None) -> None:
        self._factory = factory
        self._keep_idle = keep_idle
        self._max = max_decoders
        self._idle: list[Any] = []
        self._lent = 0
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        with self._lock:
            if self._idle:
                self._lent += 1
                return self._idle.pop()
            if self._max is not None and self._lent >= self._max:
                raise ASRError(f"all {self._max} PocketSphinx decoders are busy (one per user "
                               f"speaking at once); raise max_decoders (~95 MB each)")
            self._lent += 1
        try:
            decoder = self._factory()  # slow: outside the lock
        except BaseException:
            with self._lock:
                self._lent -= 1
            raise
        return decoder

    def release(self, decoder: Any) -> None:
        try:
            decoder.reinit_feat()  # forget the previous speaker's channel and noise floor
        except RuntimeError:
            self.discard()
            return
        with self._lock:
            self._lent -= 1
            if len(self._idle) < self._keep_idle:
                self._idle.append(decoder)

    def discard(self) -> None:
        """A lent decoder broke: forget it rather than hand it out again."""
        with self._lock:
            self._lent -= 1

    def preload(self, count: int) -> None:
        decoders = [self.acquire() for _ in range(count)]
        for decoder in decoders:
            self.release(decoder)


class PocketSphinxASR:
    """Offline streaming recognition with CMU PocketSphinx.

    Args:
        hmm, lm, dictionary: acoustic model folder, language model, pronunciation dictionary;
            default: the US English model inside the ``pocketsphinx`` package.
        lang: the language of that model; anything but English needs all three paths.
        partial_interval: seconds of audio between partial hypotheses (each costs a search
            backtrace; 0 = after every push).
        keep_idle: decoders kept ready between turns (each ~95 MB).
        max_decoders: most turns recognized at once; None = no limit.
        preload: decoders built now, so the first turn does not pay 0.3-0.5 s.
        config: extra PocketSphinx options (e.g. ``{"beam": 1e-60}``).

    Thread-safety: streams may run in different threads; one stream belongs to one thread at
    a time.
    """

    name = "pocketsphinx"
    rate = _RATE

    def __init__(self, hmm: str | Path | None = None, lm: str | Path | None = None,
                 dictionary: str | Path | None = None, lang: str = "en-us",
                 partial_interval: float = 0.2, keep_idle: int = 2,
                 max_decoders: int | None = None, preload: int = 1,
                 config: Mapping[str, Any] | None = None) -> None:
        self.lang = lang
        custom = hmm is not None and lm is not None and dictionary is not None
        if _primary(lang) != "en" and not custom:
            raise ASRError(self._missing_model(lang))
        ps = import_pocketsphinx()
        self._paths = {"hmm": Path(hmm) if hmm else Path(ps.get_model_path("en-us/en-us")),
                       "lm": Path(lm) if lm else Path(ps.get_model_path("en-us/en-us.lm.bin")),
                       "dict": Path(dictionary) if dictionary else
                       Path(ps.get_model_path("en-us/cmudict-en-us.dict"))}
        for key, path in self._paths.items():
            if not path.exists():
                raise ASRError(f"PocketSphinx {key} not found: {path}")
        options = {key: str(path) for key, path in self._paths.items()}
        options.update({"samprate": _RATE, "loglevel": "FATAL", **dict(config or {})})
        try:
            self._config = ps.Config(**options)  # parsed once, shared by every decoder
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ASRError(f"bad PocketSphinx config {dict(config or {})}: {exc}") from exc
        self._decoder_class = ps.Decoder
        self._partial_samples = max(0, int(partial_interval * _RATE))
        self._pool = _DecoderPool(self._new_decoder, keep_idle, max_decoders)
        self._pool.preload(preload)

    @staticmethod
    def _missing_model(lang: str) -> str:
        return (f"PocketSphinx ships only an English model, not {lang!r}: download the CMU "
                f"Sphinx acoustic model, language model and dictionary for {lang!r} from "
                f"{_MODELS_URL} and pass hmm=, lm=, dictionary= and lang={lang!r}; or use "
                f"asr 'whisper' (pip install talkbridge[whisper]) or 'azure'")

    def _new_decoder(self) -> Any:
        try:
            return self._decoder_class(self._config)
        except (RuntimeError, ValueError) as exc:
            raise ASRError(f"PocketSphinx could not load its model {self._paths}: {exc}") from exc

    def new_stream(self, lang: str | None = None) -> "PocketSphinxStream":
        if lang and _primary(lang) != _primary(self.lang):
            raise ASRError(f"this PocketSphinx model recognizes {self.lang!r}, not {lang!r}. "
                           + self._missing_model(lang))
        return PocketSphinxStream(self._pool, self._partial_samples)


class PocketSphinxStream:
    """One user turn on a borrowed decoder."""

    def __init__(self, pool: _DecoderPool, partial_samples: int) -> None:
        self._pool = pool
        self._decoder: Any | None = pool.acquire()
        self._partials = PartialGate(partial_samples)
        self._final: str | None = None
        try:
            self._decoder.start_utt()
        except RuntimeError as exc:
            self._drop()
            raise ASRError(f"PocketSphinx could not start an utterance: {exc}") from exc

    def push(self, pcm: np.ndarray) -> str | None:
        decoder = self._live_decoder()
        samples = np.asarray(pcm, dtype=np.float32).reshape(-1)
        raw = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        try:
            decoder.process_raw(raw, False, False)
        except RuntimeError as exc:
            self._drop()
            raise ASRError(f"PocketSphinx failed on pushed audio: {exc}") from exc
        if not self._partials.due(len(samples)):
            return None
        return self._partials.changed(_text(decoder))

    def finish(self) -> str:
        if self._final is not None:
            return self._final
        decoder = self._live_decoder()
        try:
            decoder.end_utt()
            self._final = _text(decoder)
        except RuntimeError as exc:
            self._drop()
            raise ASRError(f"PocketSphinx failed to finish the utterance: {exc}") from exc
        self._give_back()
        return self._final

    def cancel(self) -> None:
        if self._decoder is None:
            return
        try:
            self._decoder.end_utt()
        except RuntimeError:
            self._drop()
            return
        self._give_back()

    def _live_decoder(self) -> Any:
        if self._decoder is None:
            raise ASRError("this recognition stream is finished or cancelled; start a new one")
        return self._decoder

    def _give_back(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            self._pool.release(decoder)

    def _drop(self) -> None:
        if self._decoder is not None:
            self._decoder = None
            self._pool.discard()


def _text(decoder: Any) -> str:
    hyp = decoder.hyp()
    return hyp.hypstr.strip() if hyp is not None and hyp.hypstr else ""
