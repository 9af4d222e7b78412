"""The face follows the network's own viseme decision: lips seal where it says p/b/m, and
(whole clips) the jaw opens as its visemes and the audio's loudness say.

Why: the network has two heads on one state, ARKit weights (trained with cross-entropy on
each shape) and the 15 visemes (a softmax). On a voice it never heard, a closure is often
a close call: the viseme head still ranks PP first, but the ARKit head, fitting the *mean*
of what it was taught, presses the lips at 0.15 where the teacher presses at 0.75, and the
mouth stays visibly open through the p. On the flite set, clean, PP was the top viseme at
58 % of the closures the network missed, with a median PP weight of only 0.23. A viewer
sees the lips meet or not; an animator decides, they don't average. So in every frame
whose top viseme is PP (by a lead of ``LEAD``; in proportion to a smaller one), the lips
are brought together: ``mouthClose`` up to ``jawOpen``
(ARKit's rule for lips shut over an open jaw) and both ``mouthPress`` shapes up to
``PRESS``. The jaw and every other channel are left as the network said, so the jaw's
motion and the viseme track do not change.

What it costs: lips meet in a few frames where the teacher has none (mostly f/v and
rounded "oo", whose lips are nearly together already). Chosen on a development set of
eight Kokoro English voices the realtime network never heard, not on the evaluation set;
the trade, closures caught against frames sealed away from any closure, is in the model
card and ``talkbridge eval`` reports both (``closure_rate``, ``false_closure_rate``).

Pure numpy, per frame, so streaming still equals the whole clip. A checkpoint turns it on in its config (``decide_closures``), so other
weights, and the previous files given to ``eval --against``, keep their own behaviour.

**The jaw, for whole clips** (:func:`jaw_from_visemes`, ``jaw_from_visemes`` in the offline
model's config). The ARKit head's jawOpen is a hedge too: it correlated 0.887 with the
teacher's on the flite set, while the offline model's visemes are right 72 % of the time.
The procedural animator's own rule on those visemes — each viseme's jaw pose, blended by
the viseme weights, scaled by the audio's loudness — correlated 0.920 (and 0.858 → 0.894 on
the development set above, where it was chosen). Loudness is taken relative to the clip's
peak over a centred 30 ms window, so this needs the whole clip: the offline model only.
"""

from __future__ import annotations

import numpy as np

from blendshape import procedural, rig

_N_ARKIT = len(rig.ARKIT52)
_PP = rig.VISEME_INDEX["PP"]
_OTHERS = [_N_ARKIT + i for i in range(len(rig.VISEMES)) if i != _PP]  # columns of the rest
_JAW, _CLOSE = rig.ARKIT_INDEX["jawOpen"], rig.ARKIT_INDEX["mouthClose"]
_PRESS = [rig.ARKIT_INDEX["mouthPressLeft"], rig.ARKIT_INDEX["mouthPressRight"]]

#: The lip press of a decided closure: the least that reads as lips together (the metric's
#: "sealed" asks for 0.25), well under the teacher's full 0.75, since these are close calls.
PRESS = 0.35
#: PP's lead over the next viseme at which the lips are fully sealed; below it they close in
#: proportion. A hard switch at the argmax snapped the lips shut and open whenever two
#: visemes ran neck and neck (a flicker at 100 fps), and made the face jump between two
#: nearly equal inputs (a 48 kHz microphone against the same audio at 16 kHz). On the
#: development set this ramp cost 0.01 of closure (clean 0.885 → 0.875).
LEAD = 0.05


def seal_decided_closures(weights: np.ndarray) -> np.ndarray:
    """(..., 67) activated network weights (52 ARKit, 15 visemes) → the same, lips sealed
    in every frame whose top viseme is PP by ``LEAD`` or more, and drawn together in
    proportion to a smaller lead. Returns ``weights`` itself when PP leads nowhere.

    Every frame is computed alike (an undecided frame's lips move by 0 × …, exactly
    nothing): a live stream's step pays this on every 20 ms chunk, and picking the decided
    frames out and back cost twice as much as the arithmetic."""
    lead = weights[..., _N_ARKIT + _PP] - weights[..., _OTHERS].max(axis=-1)
    if not (lead > 0.0).any():
        return weights
    strength = np.clip(lead / LEAD, 0.0, 1.0).astype(weights.dtype)
    out = weights.copy()
    close = out[..., _CLOSE]
    out[..., _CLOSE] = close + strength * (np.maximum(close, out[..., _JAW]) - close)
    press = out[..., _PRESS]
    out[..., _PRESS] = press + strength[..., None] * (np.maximum(press, PRESS) - press)
    return out


def jaw_from_visemes(weights: np.ndarray, loud: np.ndarray) -> np.ndarray:
    """(n, 67) activated weights and the audio's loudness (n,) in 0..1 at the same frames
    (:func:`blendshape.procedural.loudness`) → the same, ``jawOpen`` and ``mouthLowerDown``
    set as the procedural animator sets them from these viseme weights. Run it before
    :func:`seal_decided_closures`, which raises ``mouthClose`` to the jaw it finds."""
    opening = procedural.OPENING
    poses = weights[:, _N_ARKIT:] @ procedural.POSE_MATRIX[:, opening]
    out = weights.copy()
    out[:, opening] = (poses * procedural.opening_gain(loud)[:, None]).astype(weights.dtype)
    return out
