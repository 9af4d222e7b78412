"""``talkbridge eval``: the network on voices it never heard (flite's), against the teacher.

flite speaks with its own diphone/cluster voices and reports its phone timings (``-psdur``),
so the procedural teacher gives the reference curves for audio the network was never
trained on. Two baselines run on the same audio, side by side: energy → jawOpen (what
loudness-driven lip sync gets) and the teacher itself on the true timings, the ceiling, whose
row shows that every metric can be met (a threshold no animation can pass would show there).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from blendshape import procedural
from blendshape.animator import SpeechAnimator
from blendshape.phonemes import PhonemeSpan, to_viseme_spans
from blendshape.stream import animate_clip
from blendshape.train.metrics import compare, energy_baseline

FLITE_VOICES = ("kal", "awb", "rms", "slt")
EVAL_TEXTS = (
    "Papa bought a big blue boat.", "My mother made marmalade in May.",
    "She sells sea shells by the sea shore.", "Five wives vowed to visit the valley.",
    "Who knew you would choose the blue shoes?", "The quick brown fox jumps over the lazy dog.",
    "Bring me a bowl of warm soup, please.", "Maybe Bob will bake more bread tomorrow.",
)


class FliteMissing(RuntimeError):
    """flite is not installed: apt-get install flite."""


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


def evaluate(model, fps: int = 60) -> dict[str, dict[str, float]]:
    """Mean metrics per animator (network and the two baselines) over flite voices × texts."""
    results: dict[str, list[dict[str, float]]] = {"network": [], "energy_baseline": [],
                                                  "teacher_on_true_timings": []}
    with tempfile.TemporaryDirectory() as tmp:
        for voice in FLITE_VOICES:
            for text in EVAL_TEXTS:
                pcm, rate, phones = flite(text, voice, Path(tmp))
                teacher = SpeechAnimator(fps=fps).add(pcm, rate, phones, alphabet="arpabet").frames
                spans = to_viseme_spans(phones, alphabet="arpabet")
                times = np.arange(len(teacher)) / fps
                results["network"].append(compare(animate_clip(model, pcm, rate, fps), teacher, spans, fps))
                energy = energy_baseline(procedural.loudness(pcm, rate, times))
                results["energy_baseline"].append(compare(energy, teacher, spans, fps))
                results["teacher_on_true_timings"].append(compare(teacher, teacher, spans, fps))
    return {name: {k: round(float(np.nanmean([r[k] for r in rows])), 4) for k in rows[0]}
            for name, rows in results.items()}
