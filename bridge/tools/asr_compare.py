"""``talkbridge bench --asr``: the offline recognizers side by side on voices neither was
tuned on: word error rate, and how long the final transcript takes once the speech ends.

The turns are flite's voices (kal, awb, rms, slt: diphone and cluster voices that neither
PocketSphinx's acoustic model nor Whisper was trained on) reading :data:`TURNS`, the kind of
thing a player says to a character, clean and with pink noise 10 dB under the speech
(``blendshape/train/degrade.py``, the same noise ``eval --degrade`` uses). Each recognizer
hears the audio as a session's ``mic`` stream brings it, in 100 ms chunks; the latency is
the wall time of ``finish()`` after the last chunk, which is what the dialogue loop waits for
between the end of the user's turn and the language model's first token (the VAD's
hang-over before it is the same for every recognizer).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from blendshape.net.features import resample
from blendshape.train.degrade import DEGRADATIONS, clip_seed
from bridge.speech.asr.base import ASRProvider

RATE = 16_000
CHUNK = RATE // 10
TURNS = (
    "Hello, what is your name?", "How are you doing today?", "Tell me a joke about pirates.",
    "What time does the market open?", "Can you help me find the blacksmith?",
    "I want to buy a sword and a shield.", "Where did you grow up?",
    "Do you know the way to the castle?", "Please open the door for me.",
    "What happened to the old bridge?", "I have never seen a dragon before.",
    "How much does the red potion cost?", "Let us meet at the tavern tonight.",
    "Why is the village so quiet?", "My brother lost his horse in the forest.",
    "Could you repeat that more slowly?", "The weather is cold and wet this morning.",
    "Thank you very much for your help.", "Who is the king of this land?",
    "Goodbye, see you tomorrow.",
)
VOICES = ("kal", "awb", "rms", "slt")
CONDITIONS = ("clean", "noise10")
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: what a word error rate compares."""
    return _WORD.findall(text.lower().replace("-", " "))


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions + deletions + insertions turning ``hypothesis`` into ``reference``."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


@dataclass(frozen=True)
class Turn:
    voice: str
    text: str
    pcm: np.ndarray  # 16 kHz float32, clean


@dataclass(frozen=True)
class Heard:
    """One recognizer on one turn."""

    errors: int
    reference_words: int
    final_seconds: float
    text: str


def recognize(asr: ASRProvider, pcm: np.ndarray) -> tuple[str, float]:
    """The final transcript of ``pcm`` pushed in 100 ms chunks, and finish()'s wall time."""
    stream = asr.new_stream("en-US")
    for start in range(0, len(pcm), CHUNK):
        stream.push(pcm[start:start + CHUNK])
    began = time.perf_counter()
    text = stream.finish()
    return text, time.perf_counter() - began


def flite_turns(voices: Sequence[str] = VOICES, texts: Sequence[str] = TURNS) -> list[Turn]:
    from bridge.tools.evaluation import flite_clips

    return [Turn(c.voice, c.text, resample(c.pcm, c.rate)) for c in flite_clips(voices, texts)]


def heard_audio(turn: Turn, condition: str) -> np.ndarray:
    if condition == "clean":
        return turn.pcm
    return DEGRADATIONS[condition](turn.pcm, RATE, clip_seed(condition, turn.voice, turn.text))


def compare(recognizers: Mapping[str, ASRProvider], turns: Sequence[Turn],
            conditions: Sequence[str] = CONDITIONS) -> dict[str, dict[str, dict[str, float]]]:
    """condition → recognizer → {wer, final_ms_median, final_ms_p90, turns}."""
    report: dict[str, dict[str, dict[str, float]]] = {}
    for condition in conditions:
        audio = [heard_audio(turn, condition) for turn in turns]
        for name, asr in recognizers.items():
            rows = []
            for turn, pcm in zip(turns, audio):
                text, seconds = recognize(asr, pcm)
                rows.append(Heard(word_errors(turn.text, text), len(words(turn.text)), seconds, text))
            finals = sorted(r.final_seconds for r in rows)
            report.setdefault(condition, {})[name] = {
                "wer": sum(r.errors for r in rows) / max(1, sum(r.reference_words for r in rows)),
                "final_ms_median": 1000 * statistics.median(finals),
                "final_ms_p90": 1000 * finals[int(0.9 * (len(finals) - 1))],
                "turns": len(rows),
            }
    return report


def format_report(report: Mapping[str, Mapping]) -> str:
    lines = [f"{'condition':10s} {'recognizer':14s} {'WER':>6s} {'final p50':>10s} {'final p90':>10s}"]
    for condition, by_name in report.items():
        if condition == "intelligibility_wer_whisper":
            continue
        for name, m in by_name.items():
            lines.append(f"{condition:10s} {name:14s} {m['wer']:6.3f} {m['final_ms_median']:8.0f} ms"
                         f" {m['final_ms_p90']:7.0f} ms")
    for voice, wer in report.get("intelligibility_wer_whisper", {}).items():
        lines.append(f"our voice {voice!r} heard by Whisper: WER {wer:.3f}")
    return "\n".join(lines)


def intelligibility(asr: ASRProvider, voices: Sequence[str] | None = None,
                    texts: Sequence[str] = TURNS) -> dict[str, float]:
    """How well our own voices are understood: one recognizer's word error rate on each
    voice reading ``texts`` (Piper's default, Kokoro's American English where installed,
    espeak-ng's), so "it sounds robotic" is a number."""
    from bridge.speech.tts.config import make_registry

    registry = make_registry()
    wanted = voices or [v for v in ("joe", "kokoro:af_heart", "espeak:en-us")
                        if _has_voice(registry, v)]
    report: dict[str, float] = {}
    for voice in wanted:
        provider, found = registry.resolve(voice)
        errors = words_in = 0
        for text in texts:
            chunks = list(provider.synthesize(text, found))
            pcm = resample(np.concatenate([c.pcm for c in chunks]), chunks[0].rate)
            heard, _ = recognize(asr, pcm)
            errors += word_errors(text, heard)
            words_in += len(words(text))
        report[voice] = errors / max(1, words_in)
    return report


def _has_voice(registry, voice: str) -> bool:
    try:
        registry.resolve(voice)
    except Exception:  # noqa: BLE001 - an extra that isn't installed: that voice is skipped
        return False
    return True


def run(voices: Sequence[str] = VOICES, sentences: int = len(TURNS)) -> dict:
    """Both offline recognizers, every turn, every condition, in one run; then our voices'
    intelligibility to Whisper."""
    from bridge.speech.asr.registry import make_asr

    recognizers = {"pocketsphinx": make_asr("pocketsphinx"), "whisper": make_asr("whisper")}
    turns = flite_turns(voices, TURNS[:sentences])
    for asr in recognizers.values():  # load and warm both before anything is timed
        recognize(asr, turns[0].pcm)
    report: dict = compare(recognizers, turns)
    report["intelligibility_wer_whisper"] = intelligibility(recognizers["whisper"],
                                                            texts=TURNS[:sentences])
    return report
