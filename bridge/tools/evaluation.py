"""``talkbridge eval``: the network on voices it never heard (flite's), against the teacher.

flite speaks with its own diphone/cluster voices and reports its phone timings (``-psdur``),
so the procedural teacher gives the reference curves for audio the network was never
trained on. Baselines run on the same audio, side by side: energy → jawOpen (what
loudness-driven lip sync gets); a phoneme recognizer's timings driving the procedural
animator (``hama_procedural``, when hama is installed: what lip sync without a face network
gets); and the teacher itself on the true timings, the ceiling, whose clean row shows that
every metric can be met (a threshold no animation can pass would show there).

Degraded conditions (``--degrade``, :mod:`blendshape.train.degrade`) change only the audio the
animators hear; the reference stays the teacher on the clean audio and its true timings. The
teacher's row then hears the degraded audio too: its timings stay perfect, so what it loses
is what the degradation costs through loudness alone.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blendshape import procedural
from blendshape.animator import SpeechAnimator
from blendshape.net.stream import animate_clip
from blendshape.phonemes import PhonemeSpan, to_viseme_spans
from blendshape.train.degrade import DEGRADATIONS, clip_seed, parse_names
from blendshape.train.metrics import compare, energy_baseline
from bridge.tools import hama_baseline

log = logging.getLogger(__name__)

FLITE_VOICES = ("kal", "awb", "rms", "slt")
EVAL_TEXTS = (
    "Papa bought a big blue boat.", "My mother made marmalade in May.",
    "She sells sea shells by the sea shore.", "Five wives vowed to visit the valley.",
    "Who knew you would choose the blue shoes?", "The quick brown fox jumps over the lazy dog.",
    "Bring me a bowl of warm soup, please.", "Maybe Bob will bake more bread tomorrow.",
)
CLEAN = "clean"
TEACHER = "teacher_on_true_timings"
#: The metrics a report shows, in its column order (``compare`` gives a few more).
SHOWN = ("viseme_accuracy", "closure_rate", "false_closure_rate", "jaw_correlation", "mouth_mae",
         "abs_lag_frames")

#: An animator: audio and its rate → full frames (``rig.ALL_CHANNELS``) at the eval's fps.
Animate = Callable[[np.ndarray, int], np.ndarray]


class FliteMissing(RuntimeError):
    """flite is not installed: apt-get install flite."""


@dataclass(frozen=True)
class Clip:
    """One sentence: clean audio and its voice's true phone timings (flite's ARPAbet, or
    Kokoro's IPA in ``lang``)."""

    voice: str
    text: str
    pcm: np.ndarray
    rate: int
    phones: list[PhonemeSpan]
    alphabet: str = "arpabet"
    lang: str | None = None


@dataclass(frozen=True)
class Report:
    """Mean metrics by condition → animator → metric, and each animator's cost.

    ``seconds_per_clip`` is wall time and varies run to run; ``metrics`` doesn't.
    ``per_clip`` holds each clip's metrics (condition → animator → one row a clip, the
    clips in the same order for every animator), for :func:`paired_differences`.
    """

    metrics: dict[str, dict[str, dict[str, float]]]
    seconds_per_clip: dict[str, float]
    audio_seconds_per_clip: float
    per_clip: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)


def flite(text: str, voice: str, workdir: Path) -> tuple[np.ndarray, int, list[PhonemeSpan]]:
    """Speech and phone timings from flite (``phone:end_time`` pairs)."""
    exe = shutil.which("flite")
    if exe is None:
        raise FliteMissing("flite is not installed: apt-get install flite")
    out = workdir / f"{voice}.wav"
    run = subprocess.run([exe, "-voice", voice, "-psdur", "-t", text, "-o", str(out)],
                         capture_output=True, text=True, timeout=60, check=True)
    spans, start = [], 0.0
    for item in run.stdout.split():
        phone, _, end = item.rpartition(":")
        spans.append(PhonemeSpan(phone, start, float(end)))
        start = float(end)
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    return pcm, rate, spans


def flite_clips(voices: Sequence[str], texts: Sequence[str]) -> Iterator[Clip]:
    """Every voice × text, synthesized once (whatever conditions then hear it)."""
    with tempfile.TemporaryDirectory() as tmp:
        for voice in voices:
            for text in texts:
                yield Clip(voice, text, *flite(text, voice, Path(tmp)))


#: Mandarin sentences thick with what the lips show: b/p/m closures (爸 妈 买 本 不 怕 门 朋),
#: rounded u/ü/o (五 书 女 鱼 朵 我), and the apical -i and er finals (是 四 儿).
MANDARIN_TEXTS = (
    "爸爸买了一本书。", "妈妈不怕猫。", "我们明天去北京。", "朋友送我一朵花。",
    "五个女孩在跑步。", "他把门关上了。", "鱼在水里游来游去。", "四十是十四，儿子不是女儿。",
)
#: Kokoro's two Mandarin voices that ship with talkbridge. The realtime network never heard
#: Kokoro; the offline model's corpus mixed these vectors into English, never Mandarin.
MANDARIN_VOICES = ("zf_xiaobei", "zm_yunjian")


def kokoro_mandarin_clips(voices: Sequence[str] = MANDARIN_VOICES,
                          texts: Sequence[str] = MANDARIN_TEXTS) -> Iterator[Clip]:
    """Kokoro's Mandarin voices reading ``texts``, labelled by their own token timings
    (moved to when they sound: :data:`bridge.speech.tts.kokoro.LEAD`)."""
    from bridge.speech.tts.kokoro import KokoroTTS

    kokoro = KokoroTTS()
    by_name = {v.name: v for v in kokoro.voices()}
    for name in voices:
        for text in texts:
            chunks = list(kokoro.synthesize(text, by_name[name]))
            pcm = np.concatenate([c.pcm for c in chunks])
            phones, offset = [], 0.0
            for chunk in chunks:
                phones += [PhonemeSpan(p.phoneme, p.start + offset, p.end + offset)
                           for p in chunk.phonemes]
                offset += chunk.duration
            yield Clip(name, text, pcm, chunks[0].rate, phones, chunks[0].alphabet, chunks[0].lang)


def heard(clip: Clip, condition: str) -> np.ndarray:
    """The audio the animators hear under ``condition``; its noise is seeded by the clip."""
    if condition == CLEAN:
        return clip.pcm
    return DEGRADATIONS[condition](clip.pcm, clip.rate, clip_seed(condition, clip.voice, clip.text))


def teacher(pcm: np.ndarray, rate: int, phones: Sequence[PhonemeSpan], fps: float,
            alphabet: str = "arpabet", lang: str | None = None) -> np.ndarray:
    """The procedural animator on the voice's true timings (its jaw follows ``pcm``'s loudness)."""
    return SpeechAnimator(fps=fps).add(pcm, rate, phones, alphabet=alphabet, lang=lang).frames


def energy(pcm: np.ndarray, rate: int, fps: float) -> np.ndarray:
    """The loudness → jawOpen baseline, one frame per 1/fps of audio as the teacher has."""
    times = np.arange(math.ceil(len(pcm) / rate * fps - 1e-9)) / fps
    return energy_baseline(procedural.loudness(pcm, rate, times))


def animators(model, fps: float, against: dict[str, object] | None = None) -> dict[str, Animate]:
    """The network (and the other weights in ``against``, by row name, for a side-by-side run)
    and the baselines that need no timings; hama's only when installed."""
    out: dict[str, Animate] = {"network": lambda pcm, rate: animate_clip(model, pcm, rate, fps)}
    for name, other in (against or {}).items():
        out[name] = lambda pcm, rate, other=other: animate_clip(other, pcm, rate, fps)
    out["energy_baseline"] = lambda pcm, rate: energy(pcm, rate, fps)
    try:
        recognizer = hama_baseline.load_recognizer()
    except hama_baseline.HamaMissing as exc:
        log.warning("%s; skipping the hama_procedural row", exc)
    else:
        out["hama_procedural"] = lambda pcm, rate: hama_baseline.animate(recognizer, pcm, rate, fps)
    return out


def score_clip(clip: Clip, condition: str, animate: dict[str, Animate], fps: float
               ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Metrics and wall seconds of each animator (and the teacher) on one clip."""
    reference = teacher(clip.pcm, clip.rate, clip.phones, fps, clip.alphabet, clip.lang)
    spans = to_viseme_spans(clip.phones, alphabet=clip.alphabet, lang=clip.lang)
    pcm = heard(clip, condition)
    everyone = {**animate, TEACHER: lambda p, r: teacher(p, r, clip.phones, fps, clip.alphabet,
                                                         clip.lang)}
    metrics, seconds = {}, {}
    for name, run in everyone.items():
        start = time.perf_counter()
        frames = run(pcm, clip.rate)
        seconds[name] = time.perf_counter() - start
        metrics[name] = compare(frames, reference, spans, fps)
    return metrics, seconds


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.nanmean([r[k] for r in rows])), 4) for k in rows[0]}


def evaluate_conditions(model, conditions: Sequence[str] = (CLEAN,), fps: int = 60,
                        voices: Sequence[str] = FLITE_VOICES,
                        texts: Sequence[str] = EVAL_TEXTS,
                        against: dict[str, object] | None = None,
                        clips: Iterable[Clip] | None = None) -> Report:
    """Mean metrics per condition and animator over flite ``voices`` × ``texts`` (or
    ``clips``, e.g. :func:`kokoro_mandarin_clips`)."""
    parse_names(",".join(conditions))  # an unknown name fails before any synthesis
    animate = animators(model, fps, against)
    rows: dict[str, dict[str, list[dict[str, float]]]] = {c: {} for c in conditions}
    seconds: dict[str, list[float]] = {}
    durations = []
    for clip in clips if clips is not None else flite_clips(voices, texts):
        durations.append(len(clip.pcm) / clip.rate)
        for condition in conditions:
            metrics, took = score_clip(clip, condition, animate, fps)
            for name in metrics:
                rows[condition].setdefault(name, []).append(metrics[name])
                seconds.setdefault(name, []).append(took[name])
    return Report({c: {name: _mean(r) for name, r in by.items()} for c, by in rows.items()},
                  {name: float(np.mean(s)) for name, s in seconds.items()},
                  float(np.mean(durations)), rows)


#: The figures :func:`paired_differences` weighs (mouth_mae and lag follow the jaw's), each
#: with the short name its line shows.
COMPARED = {"viseme_accuracy": "viseme", "closure_rate": "closure",
            "false_closure_rate": "false_closures", "jaw_correlation": "jaw"}
Interval = tuple[float, float, float]  # the mean difference, and its interval's ends


def paired_differences(per_clip: dict[str, dict[str, list[dict[str, float]]]],
                       base: str = "network", draws: int = 2000, level: float = 0.95,
                       seed: int = 0) -> dict[str, dict[str, dict[str, Interval]]]:
    """Each animator's figures minus ``base``'s, clip by clip, with a bootstrap interval.

    Why: a figure moves between two weights files by more than either file's quality
    differs. Closure rests on about 124 p/b/m in the flite set, and six training runs of one
    recipe spread 0.67–0.87 on it (model card), so a 0.03 change can be the draw.
    Differencing per clip takes out what the clips share (a hard sentence is hard for
    both), and resampling the clips (``draws`` times, with replacement) gives the interval
    a difference of the mean would fall in at ``level`` if the clips were drawn again.
    Clips without a closure have no closure figure for anyone and are left out of it.
    Returns condition → animator → metric → (difference, low, high); the teacher is left out.
    """
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    out: dict[str, dict[str, dict[str, Interval]]] = {}
    for condition, by in per_clip.items():
        if base not in by:
            continue
        picks = rng.integers(0, len(by[base]), size=(draws, len(by[base])))
        for name, rows in by.items():
            if name in (base, TEACHER):
                continue
            for metric in COMPARED:
                diff = np.array([r[metric] - b[metric] for r, b in zip(rows, by[base])])
                mask = np.isfinite(diff)
                if not mask.any():
                    continue
                sums = np.where(mask, diff, 0.0)[picks].sum(axis=1)
                counts = mask[picks].sum(axis=1)
                means = sums[counts > 0] / counts[counts > 0]
                low, high = np.quantile(means, [tail, 1.0 - tail])
                out.setdefault(condition, {}).setdefault(name, {})[metric] = (
                    float(diff[mask].mean()), float(low), float(high))
    return out


def format_differences(diffs: dict[str, dict[str, dict[str, Interval]]],
                       base: str = "network", level: float = 0.95) -> str:
    """One line per condition × animator: each :data:`COMPARED` difference from ``base``
    and its interval (at the ``level`` :func:`paired_differences` was given), marked ``*``
    where the interval leaves 0 out."""
    head = (f"minus {base}, clip by clip ({100 * level:g} % interval over resampled clips; "
            "* leaves 0 out):")
    lines = [head]
    width = max((len(n) for by in diffs.values() for n in by), default=0)
    cond = max((len(c) for c in diffs), default=0)
    for condition, by in diffs.items():
        for name, figures in by.items():
            cells = "  ".join(f"{COMPARED[metric]} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                              f"{'*' if lo > 0 or hi < 0 else ' '}"
                              for metric, (d, lo, hi) in figures.items())
            lines.append(f"{condition:<{cond}}  {name:<{width}}  {cells}")
    return "\n".join(lines)


def evaluate(model, fps: int = 60) -> dict[str, dict[str, float]]:
    """Mean metrics per animator on the clean audio (the network and the baselines)."""
    return evaluate_conditions(model, (CLEAN,), fps).metrics[CLEAN]


def format_table(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    """Rows condition × animator, the :data:`SHOWN` metrics side by side; a blank line
    between conditions, so each animator's drop from ``clean`` reads down a column."""
    width = max(len(n) for by in metrics.values() for n in [*by, "animator"])
    cond = max(len(c) for c in [*metrics, "condition"])
    lines = [f"{'condition':<{cond}}  {'animator':<{width}}  " + "  ".join(SHOWN)]
    for i, (condition, by) in enumerate(metrics.items()):
        lines += [""] if i else []
        for name, m in by.items():
            cells = "  ".join(f"{m[k]:>{len(k)}.3f}" for k in SHOWN)
            lines.append(f"{condition:<{cond}}  {name:<{width}}  {cells}")
    return "\n".join(lines)
