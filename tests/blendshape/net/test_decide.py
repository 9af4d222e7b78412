"""Lips follow the viseme head's decision: sealed where PP leads, nothing else touched."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from blendshape import procedural, rig
from blendshape.net.decide import LEAD, jaw_from_visemes, seal_decided_closures
from blendshape.net.engine import OrtEngine, TorchEngine
from blendshape.net.model import N_ARKIT, AudioToFace
from blendshape.net.stream import animate_clip, load_model
from blendshape.train.metrics import sealed

_JAW, _CLOSE = rig.ARKIT_INDEX["jawOpen"], rig.ARKIT_INDEX["mouthClose"]
_PRESS = [rig.ARKIT_INDEX["mouthPressLeft"], rig.ARKIT_INDEX["mouthPressRight"]]
_LOWER = [rig.ARKIT_INDEX["mouthLowerDownLeft"], rig.ARKIT_INDEX["mouthLowerDownRight"]]


def _frame(top: str, jaw: float = 0.3, press: float = 0.1, lead: float = 0.22) -> np.ndarray:
    """One network frame: an open jaw, light lips, ``top`` the viseme that leads (by a hair)."""
    frame = np.zeros(N_ARKIT + len(rig.VISEMES), np.float32)
    frame[_JAW], frame[_PRESS] = jaw, press
    visemes = np.full(len(rig.VISEMES), (1 - lead) / (len(rig.VISEMES) - 1), np.float32)
    visemes[rig.VISEME_INDEX[top]] = lead
    frame[N_ARKIT:] = visemes
    return frame


def _full(weights: np.ndarray) -> np.ndarray:
    full = np.zeros((len(weights), len(rig.ALL_CHANNELS)), np.float32)
    full[:, :N_ARKIT] = weights[:, :N_ARKIT]
    full[:, rig.VISEME_START:] = weights[:, N_ARKIT:]
    return full


def test_a_close_call_for_pp_seals_the_lips_and_leaves_the_jaw_and_visemes() -> None:
    weights = np.stack([_frame("PP"), _frame("aa"), _frame("FF")])
    assert not sealed(_full(weights)).any()
    out = seal_decided_closures(weights)
    assert sealed(_full(out)).tolist() == [True, False, False]
    assert out[0, _CLOSE] == out[0, _JAW] == np.float32(0.3)  # lips shut over the open jaw
    np.testing.assert_array_equal(out[:, _JAW], weights[:, _JAW])
    np.testing.assert_array_equal(out[:, N_ARKIT:], weights[:, N_ARKIT:])
    np.testing.assert_array_equal(out[1:], weights[1:])


def test_a_narrower_lead_draws_the_lips_together_in_proportion() -> None:
    """No snap at the argmax: two visemes neck and neck give lips between open and shut,
    and the face moves smoothly as PP's lead grows."""
    def lead_by(margin: float) -> np.ndarray:
        frame = _frame("PP", lead=0.3)
        frame[N_ARKIT + rig.VISEME_INDEX["aa"]] = 0.3 - margin
        return frame

    leads = [-0.01, 0.0, LEAD / 4, LEAD / 2, LEAD, 2 * LEAD]
    out = seal_decided_closures(np.stack([lead_by(m) for m in leads]))
    np.testing.assert_allclose(out[:, _CLOSE], [0.0, 0.0, 0.075, 0.15, 0.3, 0.3], atol=1e-6)
    np.testing.assert_allclose(out[:, _PRESS[0]], [0.1, 0.1, 0.1625, 0.225, 0.35, 0.35], atol=1e-6)
    assert sealed(_full(out)).tolist() == [False, False, False, False, True, True]


def test_lips_already_pressed_harder_keep_their_press_and_batches_work() -> None:
    pressed = _frame("PP", press=0.8)
    batch = np.stack([np.stack([pressed, _frame("PP")]), np.stack([_frame("E"), _frame("E")])])
    out = seal_decided_closures(batch)
    assert out.shape == batch.shape
    assert out[0, 0, _PRESS].tolist() == [np.float32(0.8)] * 2
    np.testing.assert_array_equal(out[1], batch[1])
    none = np.stack([_frame("E")])
    assert seal_decided_closures(none) is none  # nothing to decide: no copy


def _models() -> tuple[AudioToFace, AudioToFace]:
    """The shipped realtime weights as they are, and the same with the decision off."""
    on = load_model(device="cpu")
    assert on.config.decide_closures, "the shipped realtime checkpoint decides its closures"
    off = AudioToFace(replace(on.config, decide_closures=False))
    off.load_state_dict(on.state_dict())
    return on, off.eval()


def test_the_shipped_network_seals_where_its_viseme_head_says_pp_in_both_engines() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(16_000 * 2) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
             + 0.01 * rng.normal(size=t.size)).astype(np.float32)
    on, off = _models()
    for engine in (TorchEngine, OrtEngine):
        decided, plain = animate_clip(engine(on), audio, 16_000, 100), animate_clip(engine(off), audio, 16_000, 100)
        lead = decided[:, rig.VISEME_START:].argmax(1) == rig.VISEME_INDEX["PP"]
        assert sealed(decided)[lead].all()
        np.testing.assert_array_equal(decided[~lead], plain[~lead])
        np.testing.assert_array_equal(decided[:, _JAW], plain[:, _JAW])


def test_the_jaw_opens_as_the_visemes_and_the_loudness_say() -> None:
    """The procedural animator's jaw rule on the network's own visemes: the open vowel's
    jaw pose at full loudness, less when quiet, and a shut jaw where PP leads."""
    weights = np.stack([_frame("aa", jaw=0.05, lead=1.0), _frame("aa", jaw=0.05, lead=1.0),
                        _frame("PP", jaw=0.3, lead=1.0)])
    loud = np.array([1.0, 0.0, 1.0], np.float32)
    out = jaw_from_visemes(weights, loud)
    aa = procedural.POSES["aa"][_JAW]
    config = procedural.ProceduralConfig()
    np.testing.assert_allclose(out[:, _JAW], [aa * (config.loud_floor + config.loud_gain),
                                             aa * config.loud_floor, 0.0], atol=1e-6)
    assert out[0, _JAW] > 0.4 and out[2, _JAW] == 0.0
    untouched = [i for i in range(out.shape[1]) if i not in (_JAW, *_LOWER)]
    np.testing.assert_array_equal(out[:, untouched], weights[:, untouched])
    sealed_after = seal_decided_closures(out)  # the order the offline engine runs them in
    assert sealed(_full(sealed_after)).tolist() == [False, False, True]
