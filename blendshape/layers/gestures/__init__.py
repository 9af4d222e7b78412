"""Gestures: head nods, shakes and tilts, brow raises and shrugs placed on the audio clock.

Speech says "yes" and the head should nod on it. The planner (:mod:`.planner`) reads a
sentence's text, where its words fall in the audio (:mod:`.words`, from the TTS phoneme
timings) and its prosody (:mod:`.prosody`), and returns timed :class:`Gesture` values; the
motion (:mod:`.motion`) turns them into head and brow offsets added over the life layer.
Everything here is pure: no clock, no I/O, the same input gives the same gestures.
"""

from __future__ import annotations

from blendshape.layers.gestures.config import GESTURES, GestureConfig, GestureConfigError
from blendshape.layers.gestures.motion import GestureTrack
from blendshape.layers.gestures.planner import Gesture, plan_gestures

__all__ = ["GESTURES", "Gesture", "GestureConfig", "GestureConfigError", "GestureTrack",
           "plan_gestures"]
