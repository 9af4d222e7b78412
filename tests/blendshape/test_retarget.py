import json

import numpy as np
import pytest

from blendshape import rig
from blendshape.retarget import RetargetError, load_map, shipped_maps


def _frame(**values):
    full = np.zeros(len(rig.ALL_CHANNELS), np.float32)
    for name, value in values.items():
        full[rig.CHANNEL_INDEX[name]] = value
    return full


def test_shipped_maps_load():
    assert {"arkit-vrm0", "arkit-vrcft-v2", "visemes-rpm", "arkit-metahuman",
            "arkit-perfectsync"} <= set(shipped_maps())
    for name in shipped_maps():
        assert load_map(name).targets


def test_vrm0_vowels_and_blink():
    out = load_map("arkit-vrm0").apply_one(_frame(viseme_aa=0.8, eyeBlinkLeft=1.0, eyeBlinkRight=0.5))
    assert out["A"] == pytest.approx(0.8) and out["O"] == 0
    assert out["Blink"] == pytest.approx(0.75) and out["Blink_L"] == 1.0


def test_vrcft_names_follow_the_unified_expressions_table():
    m = load_map("arkit-vrcft-v2")
    out = m.apply_one(_frame(eyeBlinkLeft=0.9, mouthClose=0.4, mouthFunnel=0.3, mouthLeft=0.5))
    assert out["v2/EyeClosedLeft"] == pytest.approx(0.9)
    assert out["v2/MouthClosed"] == pytest.approx(0.4)
    assert out["v2/LipFunnel"] == pytest.approx(0.3)
    assert out["v2/MouthX"] == pytest.approx(-0.5)  # signed: left is negative


def test_user_map_overrides_a_shipped_one(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"extends": "arkit-vrm0",
                                "entries": [{"to": "A", "from": "jawOpen", "gain": 2.0}]}))
    m = load_map(path)
    assert m.targets.count("A") == 1
    assert m.apply_one(_frame(jawOpen=0.3))["A"] == pytest.approx(0.6)


def test_bad_maps_fail_with_the_entry_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"entries": [{"to": "X", "from": "jawOpened"}]}))
    with pytest.raises(RetargetError, match="'X' reads unknown channel 'jawOpened'"):
        load_map(path)
    with pytest.raises(RetargetError, match="shipped: "):
        load_map("nope")
