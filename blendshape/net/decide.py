"""Lips that follow the network's own decision: where the viseme head says p/b/m, they seal.

Why: the network has two heads on one state, ARKit weights (trained with cross-entropy on
each shape) and the 15 visemes (a softmax). On a voice it never heard, a closure is often
a close call: the viseme head still ranks PP first, but the ARKit head, fitting the *mean*
of what it was taught, presses the lips at 0.15 where the teacher presses at 0.75, and the
mouth stays visibly open through the p. On the flite set, clean, PP was the top viseme at
58 % of the closures the network missed, with a median PP weight of only 0.23. A viewer
sees the lips meet or not; an animator decides, they don't average. So in every frame
whose top viseme is PP, the lips are brought together: ``mouthClose`` up to ``jawOpen``
(ARKit's rule for lips shut over an open jaw) and both ``mouthPress`` shapes up to
``PRESS``. The jaw and every other channel are left as the network said, so the jaw's
motion and the viseme track do not change.

What it costs: lips meet in a few frames where the teacher has none (mostly f/v and
rounded "oo", whose lips are nearly together already). Chosen on a development set of
eight Kokoro English voices the realtime network never heard, not on the evaluation set;
the trade, closures caught against frames sealed away from any closure, is in the model
card and ``talkbridge eval`` reports both (``closure_rate``, ``false_closure_rate``).

Pure numpy, per frame, so streaming still equals the whole clip; applying it twice
changes nothing. A checkpoint turns it on in its config (``decide_closures``), so other
weights, and the previous files given to ``eval --against``, keep their own behaviour.
"""

from __future__ import annotations

import numpy as np

from blendshape import rig

_N_ARKIT = len(rig.ARKIT52)
_PP = rig.VISEME_INDEX["PP"]
_JAW, _CLOSE = rig.ARKIT_INDEX["jawOpen"], rig.ARKIT_INDEX["mouthClose"]
_PRESS = [rig.ARKIT_INDEX["mouthPressLeft"], rig.ARKIT_INDEX["mouthPressRight"]]

#: The lip press of a decided closure: the least that reads as lips together (the metric's
#: "sealed" asks for 0.25), well under the teacher's full 0.75, since these are close calls.
PRESS = 0.35


def seal_decided_closures(weights: np.ndarray) -> np.ndarray:
    """(..., 67) activated network weights (52 ARKit, 15 visemes) → the same, lips sealed
    in every frame whose top viseme is PP. Returns ``weights`` itself when none is."""
    decided = weights[..., _N_ARKIT:].argmax(axis=-1) == _PP
    if not decided.any():
        return weights
    out = weights.copy()
    frames = out[decided]
    frames[:, _CLOSE] = np.maximum(frames[:, _CLOSE], frames[:, _JAW])
    frames[:, _PRESS] = np.maximum(frames[:, _PRESS], PRESS)
    out[decided] = frames
    return out
