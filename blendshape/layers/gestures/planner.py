"""The gesture planner: a sentence's words, times and prosody in, timed gestures out.

Pure and deterministic (sans-I/O): the same sentence always gets the same gestures, so the
server, ``talkbridge say`` and the tests agree. The rules are tables, read in this order:

1. **Phrases** (:data:`PHRASES`) claim their words first: "I don't know" is a shrug, so its
   "don't" is not also a shake.
2. **Words** (:data:`WORDS`): yes and agreement nod, no and negation shake.
3. **Questions**: a clause ending in ``?`` tilts the head over its whole span.
4. **Emphasis**: words the voice leans on (energy and pitch peaks, :mod:`.prosody`, plus
   intensifiers and ``!``) raise the brows with a small chin beat, at most one per
   :data:`EMPHASIS_SPACING` seconds.

Then the emotion (:data:`EMOTION_STYLE`) scales strength and tempo, the config drops what is
switched off, and where two gestures would drive the same channel at once the one of higher
priority (:data:`SHAPES`) stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from blendshape.layers.emotion import EMOTION_ALIASES
from blendshape.layers.gestures.config import GestureConfig
from blendshape.layers.gestures.prosody import Prosody, prominence
from blendshape.layers.gestures.words import Word


@dataclass(frozen=True, slots=True)
class Gesture:
    """One gesture on a clock: it starts at ``t`` and lasts ``duration`` seconds.

    ``strength`` is 0..1 (how big the motion is; the wire carries it for engines' body
    animations); ``word`` is the text that called for it, for logs and tests.
    """

    name: str
    t: float
    duration: float
    strength: float
    word: str = ""

    @property
    def end(self) -> float:
        return self.t + self.duration

    def shifted(self, dt: float) -> Gesture:
        """The same gesture ``dt`` seconds later (a sentence's clock → the utterance's)."""
        return replace(self, t=self.t + dt)


class Shape(NamedTuple):
    """How a gesture sits in time and what it moves."""

    duration: float            # seconds at neutral tempo (a tilt spans its question instead)
    lead: float                # starts this long before its word, so its stroke lands on it
    channels: tuple[str, ...]  # what it drives: two gestures on one channel never overlap
    priority: int              # who stays when two would


SHAPES: dict[str, Shape] = {
    "shrug": Shape(0.9, 0.05, ("brows", "roll", "pitch"), 5),
    "nod": Shape(0.6, 0.05, ("pitch",), 4),
    "shake": Shape(0.8, 0.05, ("yaw",), 4),
    "tilt": Shape(0.9, 0.0, ("roll",), 3),
    "brow_raise": Shape(0.6, 0.08, ("brows",), 2),
    "beat": Shape(0.3, 0.1, ("pitch",), 1),
}

#: Multi-word cues, longest first; each claims its words. (gesture, strength).
PHRASES: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("i", "have", "no", "idea"), "shrug", 0.75),
    (("i", "don't", "know"), "shrug", 0.75), (("i", "do", "not", "know"), "shrug", 0.75),
    (("who", "knows"), "shrug", 0.7), (("hard", "to", "say"), "shrug", 0.6),
    (("not", "sure"), "shrug", 0.6), (("i", "guess"), "shrug", 0.5),
    (("i", "suppose"), "shrug", 0.5), (("i", "dunno"), "shrug", 0.75),
    (("of", "course", "not"), "shake", 0.75), (("not", "at", "all"), "shake", 0.7),
    (("no", "way"), "shake", 0.75),
    (("of", "course"), "nod", 0.65), (("i", "agree"), "nod", 0.65),
    (("that's", "right"), "nod", 0.6), (("you're", "right"), "nod", 0.6),
    (("sounds", "good"), "nod", 0.5),
)

#: Single-word cues: (gesture, strength when the word opens its phrase, strength inside).
WORDS: dict[str, tuple[str, float, float]] = {
    **{w: ("nod", 0.75, 0.5) for w in (
        "yes", "yeah", "yep", "yup", "sure", "absolutely", "exactly", "definitely",
        "certainly", "indeed", "agreed", "okay", "ok", "correct", "right", "true")},
    **{w: ("shake", 0.75, 0.5) for w in ("no", "nope", "nah", "never", "nobody", "nothing",
                                          "none", "neither", "nowhere")},
    **{w: ("shake", 0.45, 0.35) for w in ("not", "don't", "doesn't", "didn't", "can't",
                                           "cannot", "won't", "wouldn't", "isn't", "aren't",
                                           "wasn't", "weren't", "shouldn't", "couldn't")},
    **{w: ("shrug", 0.6, 0.5) for w in ("maybe", "perhaps", "possibly", "dunno")},
}
#: "right", "true", "okay", "sure" only agree when they stand alone ("Right." but not "the
#: right way"): inside a phrase they are just words.
ALONE_ONLY = frozenset({"right", "true", "okay", "ok", "sure", "correct"})

#: Words a speaker leans on by meaning; they add to the prosody's score.
INTENSIFIERS = frozenset({"really", "very", "so", "absolutely", "totally", "completely",
                          "extremely", "incredibly", "truly", "definitely", "always", "never",
                          "huge", "amazing", "love", "must", "best", "worst", "all"})
#: Words too small to carry a brow raise, however loud.
FUNCTION_WORDS = frozenset({"a", "an", "the", "and", "or", "but", "of", "to", "in", "on",
                            "at", "for", "with", "is", "are", "was", "be", "it", "i", "you",
                            "he", "she", "we", "they", "do", "does", "that", "this", "as",
                            "by", "from", "my", "your", "its", "our", "their", "me", "him",
                            "her", "us", "them", "if", "then", "than"})
#: Prominence (robust z-score, + intensifier and "!" bonuses) a word needs to be emphasised.
EMPHASIS_THRESHOLD = 1.2
EMPHASIS_SPACING = 1.5
INTENSIFIER_BONUS = 0.8
EXCLAIM_BONUS = 0.6

#: Emotion → (strength scale, tempo, per-gesture factors). A sad face moves less and slower;
#: an angry one shakes harder and does not raise its (lowered) brows; surprise raises them.
EMOTION_STYLE: dict[str, tuple[float, float, Mapping[str, float]]] = {
    "neutral": (1.0, 1.0, {}),
    "happy": (1.15, 1.1, {"shake": 0.8}),
    "sad": (0.6, 0.75, {"brow_raise": 0.5, "beat": 0.5}),
    "angry": (1.1, 1.2, {"nod": 0.8, "shake": 1.3, "brow_raise": 0.0, "shrug": 0.6}),
    "surprised": (1.2, 1.1, {"brow_raise": 1.4, "tilt": 1.2}),
    "fear": (0.7, 1.3, {"nod": 0.7, "shrug": 0.8}),
    "disgust": (0.9, 1.0, {"shake": 1.2, "nod": 0.6}),
}
#: Gestures weaker than this after styling are not made at all.
MIN_STRENGTH = 0.05
#: The settings a planner without any uses: every gesture, at full strength.
DEFAULT = GestureConfig()
#: The shortest a gesture is made, when the sentence ends soon after it starts.
MIN_DURATION = 0.25


def plan_gestures(text: str, words: Sequence[Word], prosody: Prosody | None = None,
                  emotion: str | Mapping[str, float] | None = None,
                  config: GestureConfig = DEFAULT, end: float | None = None
                  ) -> list[Gesture]:
    """The gestures of one sentence, in time order, on the sentence's clock.

    ``words`` are its words with times (:func:`.words.align_words`); ``prosody`` its energy
    and pitch tracks, if known; ``end`` the length of its audio, past which no gesture runs.
    """
    if not config.enabled or not words:
        return []
    keys = [w.key for w in words]
    claimed: set[int] = set()
    cues = _phrase_cues(words, keys, claimed) + _word_cues(words, keys, claimed)
    cues += _question_cues(words) + _emphasis_cues(words, keys, prosody)
    styled = [_styled(g, emotion, config, end) for g in cues if config.allows(g.name)]
    return _resolve([g for g in styled if g.strength >= MIN_STRENGTH])


def _opens_phrase(words: Sequence[Word], i: int) -> bool:
    return i == 0 or bool(words[i - 1].after)


def _alone(words: Sequence[Word], i: int) -> bool:
    """The word is a phrase of its own ("Right." "Sure,")."""
    return _opens_phrase(words, i) and (bool(words[i].after) or i == len(words) - 1)


def _at(name: str, word: Word, strength: float, label: str, until: Word | None = None) -> Gesture:
    shape = SHAPES[name]
    t = max(0.0, word.start - shape.lead)
    duration = shape.duration
    if until is not None:  # a gesture over a span of words lasts at least that span
        duration = max(duration, until.end - t)
    return Gesture(name, t, duration, strength, label)


def _phrase_cues(words: Sequence[Word], keys: Sequence[str], claimed: set[int]) -> list[Gesture]:
    out: list[Gesture] = []
    i = 0
    while i < len(keys):
        for phrase, name, strength in PHRASES:
            k = len(phrase)
            if tuple(keys[i:i + k]) == phrase and not any(words[j].after for j in range(i, i + k - 1)):
                out.append(_at(name, words[i], strength, " ".join(w.text for w in words[i:i + k]),
                               until=words[i + k - 1]))
                claimed.update(range(i, i + k))
                i += k
                break
        else:
            i += 1
    return out


def _word_cues(words: Sequence[Word], keys: Sequence[str], claimed: set[int]) -> list[Gesture]:
    out: list[Gesture] = []
    for i, key in enumerate(keys):
        cue = WORDS.get(key)
        if cue is None or i in claimed or (key in ALONE_ONLY and not _alone(words, i)):
            continue
        name, opening, inside = cue
        out.append(_at(name, words[i], opening if _opens_phrase(words, i) else inside, words[i].text))
    return out


def _question_cues(words: Sequence[Word]) -> list[Gesture]:
    """A tilt over every clause that ends in a question mark."""
    out: list[Gesture] = []
    first = 0
    for i, word in enumerate(words):
        if any(mark in word.after for mark in ".!?…"):
            if "?" in word.after:
                label = " ".join(w.text for w in words[first:i + 1]) + "?"
                out.append(_at("tilt", words[first], 0.6, label, until=word))
            first = i + 1
    return out


def _emphasis_cues(words: Sequence[Word], keys: Sequence[str],
                   prosody: Prosody | None) -> list[Gesture]:
    """Brow raise + beat on the words the voice leans on, the strongest first."""
    if len(words) < 3:
        return []
    scores = prominence(prosody, [(w.start, w.end) for w in words])
    scores = scores + np.array([INTENSIFIER_BONUS * (k in INTENSIFIERS)
                                + EXCLAIM_BONUS * ("!" in w.after) for k, w in zip(keys, words)])
    out: list[Gesture] = []
    taken: list[float] = []
    for i in np.argsort(-scores, kind="stable"):
        word, score = words[int(i)], float(scores[i])
        if score < EMPHASIS_THRESHOLD:
            break
        if keys[i] in FUNCTION_WORDS or "?" in word.after \
                or any(abs(word.start - t) < EMPHASIS_SPACING for t in taken):
            continue  # a question's last word rises by intonation, not emphasis
        taken.append(word.start)
        strength = float(np.clip(0.3 + 0.15 * score, 0.3, 0.85))
        out.append(_at("brow_raise", word, strength, word.text))
        out.append(_at("beat", word, 0.5, word.text))
    return out


def emotion_style(emotion: str | Mapping[str, float] | None, name: str) -> tuple[float, float]:
    """(strength factor, tempo) of gesture ``name`` under ``emotion`` (a name or a blend);
    the weight a blend leaves unassigned is neutral. Unknown names count as neutral."""
    mix = {} if emotion is None else ({emotion: 1.0} if isinstance(emotion, str) else dict(emotion))
    scale = tempo = 0.0
    total = 0.0
    for raw, weight in mix.items():
        key = EMOTION_ALIASES.get(raw.lower(), raw.lower())
        base, speed, factors = EMOTION_STYLE.get(key, EMOTION_STYLE["neutral"])
        w = max(0.0, float(weight))
        scale += w * base * factors.get(name, 1.0)
        tempo += w * speed
        total += w
    rest = max(0.0, 1.0 - total)
    return (scale + rest) / max(total + rest, 1e-9), (tempo + rest) / max(total + rest, 1e-9)


def _styled(g: Gesture, emotion: str | Mapping[str, float] | None, config: GestureConfig,
            end: float | None) -> Gesture:
    """Emotion and config applied; cut to the sentence's end."""
    scale, tempo = emotion_style(emotion, g.name)
    duration = g.duration / max(tempo, 0.1)
    if end is not None:
        t = min(g.t, max(0.0, end - MIN_DURATION))
        duration = max(MIN_DURATION, min(duration, end - t))
        g = replace(g, t=t)
    strength = float(np.clip(g.strength * scale * config.strength, 0.0, 1.0))
    return replace(g, duration=duration, strength=strength)


def _resolve(gestures: list[Gesture]) -> list[Gesture]:
    """Keep the higher-priority gesture where two would drive one channel at once."""
    ranked = sorted(gestures, key=lambda g: (-SHAPES[g.name].priority, g.t))
    kept: list[Gesture] = []
    for g in ranked:
        channels = set(SHAPES[g.name].channels)
        if not any(channels & set(SHAPES[k.name].channels) and g.t < k.end and k.t < g.end
                   for k in kept):
            kept.append(g)
    return sorted(kept, key=lambda g: (g.t, g.name))
