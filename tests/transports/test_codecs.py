"""Our OSC and Live Link Face bytes, read by independent decoders."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from blendshape import rig
from bridge.transports.livelink_face import LiveLinkError, encode_packet, frame_time
from bridge.transports.osc_codec import osc_bundle, osc_message, split_bundle


def test_osc_message_decodes_with_python_osc():
    msg = OscMessage(osc_message("/VMC/Ext/Blend/Val", "JawOpen", 0.25, 7, True, "ümlaut"))
    assert msg.address == "/VMC/Ext/Blend/Val"
    assert msg.params == ["JawOpen", 0.25, 7, True, "ümlaut"]


def test_osc_bundle_decodes_with_python_osc():
    bundle = OscBundle(osc_bundle([osc_message("/a", 1.0), osc_message("/VMC/Ext/Blend/Apply")]))
    contents = [(m.address, m.params) for m in bundle]
    assert contents == [("/a", [1.0]), ("/VMC/Ext/Blend/Apply", [])]


def test_bundles_are_split_to_fit_a_datagram():
    msgs = [osc_message("/avatar/parameters/FT/v2/JawOpen", 0.5)] * 100
    bundles = split_bundle(msgs, max_bytes=1400)
    assert all(len(b) <= 1400 for b in bundles)
    assert sum(len(list(OscBundle(b))) for b in bundles) == 100


def _parse_livelink(data: bytes) -> dict:
    """UE's listener, transcribed: big-endian fields in this order."""
    pos = 0

    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out if len(out) > 1 else out[0]

    version = take(">B")
    dev = data[pos + 4:pos + 4 + take(">i")].decode(); pos += len(dev)
    sub = data[pos + 4:pos + 4 + take(">i")].decode(); pos += len(sub)
    number, sub_frame, num, den = take(">ifii")
    count = take(">B")
    values = take(f">{count}f")
    assert pos == len(data)
    return dict(version=version, dev=dev, sub=sub, number=number, sub_frame=sub_frame,
                num=num, den=den, count=count, values=values)


def test_livelink_packet_layout():
    values = np.linspace(0, 1, 61, dtype=np.float32)
    data = encode_packet("0b2c8e2a-device", "Kiosk", 12.5 + 0.25 / 60, 60, values)
    parsed = _parse_livelink(data)
    assert parsed["version"] == 6 and parsed["count"] == 61
    assert (parsed["dev"], parsed["sub"]) == ("0b2c8e2a-device", "Kiosk")
    assert (parsed["number"], parsed["num"], parsed["den"]) == (750, 60, 1)
    assert parsed["sub_frame"] == pytest.approx(0.25, abs=1e-4)
    np.testing.assert_allclose(parsed["values"], values, atol=1e-7)
    assert len(data) == 270 + len("0b2c8e2a-device") + len("Kiosk")
    assert len(data) > 264  # UE drops packets not larger than MIN_BLEND_SHAPE_PACKET_SIZE


def test_livelink_rejects_what_unreal_would_drop():
    with pytest.raises(LiveLinkError, match="61"):
        encode_packet("d", "s", 0.0, 60, [0.0] * 52)
    with pytest.raises(LiveLinkError, match="empty"):
        encode_packet("", "s", 0.0, 60, [0.0] * 61)


def test_frame_time_at_30_fps_has_denominator_one():
    assert frame_time(1.0, 30) == (30, 0.0)
    data = encode_packet("d", "s", 1.0, 30, [0.0] * 61)
    assert _parse_livelink(data)["den"] == 1


def test_full_frames_map_to_livelink_order():
    full = np.zeros((1, len(rig.ALL_CHANNELS)), np.float32)
    full[0, rig.CHANNEL_INDEX["jawOpen"]] = 0.7
    full[0, rig.CHANNEL_INDEX["headYaw"]] = 0.1
    values = rig.to_livelink61(full)[0]
    assert values[rig.LIVELINK61.index("JawOpen")] == pytest.approx(0.7)
    assert values[rig.LIVELINK61.index("HeadYaw")] == pytest.approx(0.1)
