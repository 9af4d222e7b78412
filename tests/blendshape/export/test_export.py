"""Curves files, read back with independent readers (stdlib csv and json), as other tools would."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from blendshape import rig
from blendshape.export.curves_json import curves_document, read_json, write_json
from blendshape.export.files import SUPPORTED_EXTENSIONS, write_curves
from blendshape.export.livelink_csv import livelink_csv_rows, livelink_timecode, write_livelink_csv

# Header line of a real Live Link Face take (AnimaVR/NeuroSync_Player,
# livelink/animations/Happy/Happy.csv), copied verbatim rather than built from the module.
REAL_TAKE_HEADER = (
    "Timecode,BlendshapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,"
    "EyeLookUpLeft,EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,"
    "EyeLookOutRight,EyeLookUpRight,EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,"
    "JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,"
    "MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,"
    "MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,"
    "MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,"
    "BrowOuterUpRight,CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,"
    "TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,"
    "RightEyePitch,RightEyeRoll"
).split(",")

TIMECODE_RE = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d):(\d{2})\.(\d{3})$")
NUMBER_RE = re.compile(r"^-?\d+\.\d{10}$")

# Radians, exactly representable in float32 so the CSV text can be compared exactly.
ROTATIONS = {
    "headYaw": 0.125, "headPitch": -0.25, "headRoll": 0.375,
    "leftEyeYaw": 0.0625, "leftEyePitch": -0.1875, "rightEyeYaw": -0.3125, "rightEyePitch": 0.4375,
}
ROTATION_COLUMNS = {
    "HeadYaw": "headYaw", "HeadPitch": "headPitch", "HeadRoll": "headRoll",
    "LeftEyeYaw": "leftEyeYaw", "LeftEyePitch": "leftEyePitch",
    "RightEyeYaw": "rightEyeYaw", "RightEyePitch": "rightEyePitch",
}


def arkit_value(i: int, k: int) -> float:
    """Distinct per channel and per frame, exact in float32 and at 10 decimals."""
    return (i + 1) / 64 + k / 1024


def make_frames(n: int = 6) -> np.ndarray:
    full = np.zeros((n, len(rig.ALL_CHANNELS)), dtype=np.float32)
    for k in range(n):
        for i in range(52):
            full[k, i] = arkit_value(i, k)
        for name, value in ROTATIONS.items():
            full[k, rig.CHANNEL_INDEX[name]] = value * (1 + k / 8)
        for j, name in enumerate(rig.VISEME_CHANNELS):
            full[k, rig.CHANNEL_INDEX[name]] = 0.05 * j + 0.001 * k + 0.00004
    return full


def read_csv(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def unreal_seconds(timecodes: list[str]) -> list[float]:
    """What Epic's LiveLinkFaceImporter computes: 60 fps if any frame field > 30, else 30."""
    parts = []
    for tc in timecodes:
        h, m, s, f = tc.split(":")
        parts.append((int(h), int(m), int(s), float(f)))
    rate = 60 if any(f > 30.0 for *_, f in parts) else 30
    return [h * 3600 + m * 60 + s + f / rate for h, m, s, f in parts]


# --------------------------------------------------------------------------- timecode


@pytest.mark.parametrize(
    ("seconds", "rate", "expected"),
    [
        (0.0, 60, "00:00:00:00.000"),
        (1 / 60, 60, "00:00:00:01.000"),
        (59 / 60, 60, "00:00:00:59.000"),
        (1.0, 60, "00:00:01:00.000"),
        (59 + 59 / 60, 60, "00:00:59:59.000"),
        (60.0, 60, "00:01:00:00.000"),
        (3599 + 59 / 60, 60, "00:59:59:59.000"),
        (3600.0, 60, "01:00:00:00.000"),
        (0.5 / 60, 60, "00:00:00:00.500"),
        (1 / 30, 60, "00:00:00:02.000"),
        (1 / 30, 30, "00:00:00:01.000"),
        (29 / 30, 30, "00:00:00:29.000"),
        (59 + 29 / 30, 30, "00:00:59:29.000"),
        (60.0, 30, "00:01:00:00.000"),
        (1 / 25, 60, "00:00:00:02.400"),
        (14 * 3600 + 58 * 60 + 2 + 44.643 / 60, 60, "14:58:02:44.643"),  # a row of Happy.csv
    ],
)
def test_timecode_renders_like_the_app(seconds, rate, expected):
    assert livelink_timecode(seconds, rate) == expected


def test_timecode_never_prints_frame_60_or_second_60():
    for k in range(0, 60 * 125):
        tc = livelink_timecode(k / 60)
        h, m, s, f, sub = TIMECODE_RE.match(tc).groups()
        assert int(s) < 60 and int(m) < 60 and int(f) < 60 and sub == "000"
        assert f"{k % 60:02d}.000" == tc.split(":")[3]


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_timecode_rejects_negative_and_non_finite(bad):
    with pytest.raises(ValueError):
        livelink_timecode(bad)


# --------------------------------------------------------------------------- Live Link Face CSV


def test_csv_header_is_the_apps_header(tmp_path):
    path = tmp_path / "take.csv"
    write_livelink_csv(path, make_frames(), 60)
    header, rows = read_csv(path)
    assert header == REAL_TAKE_HEADER
    assert header[:2] == ["Timecode", "BlendshapeCount"]
    assert len(header) == 63
    # The app's quirk: Right before Left for the jaw and mouth-shift pairs.
    assert header.index("JawRight") < header.index("JawLeft")
    assert header.index("MouthRight") < header.index("MouthLeft")
    assert len(rows) == 6


def test_every_arkit_value_lands_in_its_named_column(tmp_path):
    path = tmp_path / "take.csv"
    n = 5
    write_livelink_csv(path, make_frames(n), 60)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n
    for k, row in enumerate(rows):
        for i, name in enumerate(rig.ARKIT52):
            column = name[0].upper() + name[1:]
            assert row[column] == f"{arkit_value(i, k):.10f}", (k, column)
    # The swap-prone pairs, spelled out.
    first = rows[0]
    assert float(first["JawLeft"]) == arkit_value(rig.ARKIT_INDEX["jawLeft"], 0)
    assert float(first["JawRight"]) == arkit_value(rig.ARKIT_INDEX["jawRight"], 0)
    assert float(first["MouthLeft"]) == arkit_value(rig.ARKIT_INDEX["mouthLeft"], 0)
    assert float(first["MouthRight"]) == arkit_value(rig.ARKIT_INDEX["mouthRight"], 0)


def test_head_and_eye_rotation_columns(tmp_path):
    path = tmp_path / "take.csv"
    write_livelink_csv(path, make_frames(3), 60)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for k, row in enumerate(rows):
        for column, channel in ROTATION_COLUMNS.items():
            assert float(row[column]) == pytest.approx(ROTATIONS[channel] * (1 + k / 8), abs=1e-9)
        # No source for eye roll: 0, as the app sends without eye tracking of roll.
        assert float(row["LeftEyeRoll"]) == 0.0
        assert float(row["RightEyeRoll"]) == 0.0
    # Positional readers (Diffeomorphic's Blender importer) take the last 9 as rotations.
    header, plain = read_csv(path)
    assert header[-9:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch",
                           "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]


def test_rows_are_complete_counted_and_formatted_like_the_app(tmp_path):
    path = tmp_path / "take.csv"
    frames = make_frames(4)
    frames[0, rig.CHANNEL_INDEX["headPitch"]] = -0.0  # must not print as -0.0000000000
    write_livelink_csv(path, frames, 60)
    header, rows = read_csv(path)
    for row in rows:
        assert len(row) == len(header)  # Unreal's importer aborts on a short row
        assert row[1] == "61"  # equals the number of value columns (polyvox checks it)
        assert TIMECODE_RE.match(row[0])
        assert all(NUMBER_RE.match(v) for v in row[2:]), row
    assert rows[0][header.index("HeadPitch")] == "0.0000000000"
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")


@pytest.mark.parametrize(("fps", "n", "start"), [(60, 200, 0.0), (30, 100, 0.0), (25, 90, 0.0),
                                                  (60, 200, 59.5), (30, 100, 3599.9)])
def test_timecodes_increase_and_read_back_as_row_times(tmp_path, fps, n, start):
    path = tmp_path / "take.csv"
    write_livelink_csv(path, np.zeros((n, len(rig.ALL_CHANNELS)), np.float32), fps, start)
    _, rows = read_csv(path)
    timecodes = [row[0] for row in rows]
    assert all(TIMECODE_RE.match(tc) for tc in timecodes)
    seconds = unreal_seconds(timecodes)
    assert all(b > a for a, b in zip(seconds, seconds[1:]))
    np.testing.assert_allclose(seconds, start + np.arange(n) / fps, atol=1e-4)


def test_thirty_fps_take_steps_two_timecode_frames_per_row():
    _, rows = livelink_csv_rows(np.zeros((40, len(rig.ALL_CHANNELS))), 30)
    assert [r[0] for r in rows[:3]] == ["00:00:00:00.000", "00:00:00:02.000", "00:00:00:04.000"]
    assert rows[30][0] == "00:00:01:00.000"


def test_short_take_gets_a_timecode_unreal_infers_correctly():
    # 10 rows at 60 fps never reach frame 31, so Unreal would assume 30 fps: we write 30.
    _, rows = livelink_csv_rows(np.zeros((10, len(rig.ALL_CHANNELS))), 60)
    assert rows[1][0] == "00:00:00:00.500"
    np.testing.assert_allclose(unreal_seconds([r[0] for r in rows]), np.arange(10) / 60, atol=1e-4)


def test_csv_rows_match_the_written_file(tmp_path):
    frames = make_frames(3)
    header, rows = livelink_csv_rows(frames, 60)
    path = tmp_path / "take.csv"
    write_livelink_csv(path, frames, 60)
    assert read_csv(path) == (header, rows)


@pytest.mark.parametrize("rows_block", [1, 4, 10**6])
def test_a_long_take_written_in_blocks_is_the_whole_document(tmp_path, monkeypatch, rows_block):
    """The writers format ROWS_BLOCK rows at a time (an hour's take never sits in memory as
    Python lists): the files hold exactly the one-piece document, read back by json/csv."""
    from blendshape.export import a2f, livelink_csv
    from blendshape.export import frames as frames_module

    monkeypatch.setattr(frames_module, "ROWS_BLOCK", rows_block)
    monkeypatch.setattr(livelink_csv, "ROWS_BLOCK", rows_block)
    frames = make_frames(9)
    frames[2, 0] = -0.0  # written as 0.0 in every block
    write_json(tmp_path / "t.json", frames, 60, duration=0.16)
    assert (tmp_path / "t.json").read_text() == json.dumps(
        curves_document(frames, 60, duration=0.16), separators=(",", ":")) + "\n"
    a2f.write_a2f_json(tmp_path / "t.a2f.json", frames, 60, track_path='a "weightMat":[] b.wav')
    assert json.loads((tmp_path / "t.a2f.json").read_text()) == a2f.a2f_document(
        frames, 60, track_path='a "weightMat":[] b.wav')
    write_livelink_csv(tmp_path / "t.csv", frames, 60)
    assert read_csv(tmp_path / "t.csv") == livelink_csv_rows(frames, 60)


def test_empty_take_is_a_header_only(tmp_path):
    path = tmp_path / "empty.csv"
    write_livelink_csv(path, np.zeros((0, len(rig.ALL_CHANNELS))), 60)
    header, rows = read_csv(path)
    assert header == REAL_TAKE_HEADER and rows == []


# --------------------------------------------------------------------------- curves JSON


def test_json_document_layout(tmp_path):
    path = tmp_path / "curves.json"
    frames = make_frames(6)
    write_json(path, frames, 60)
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    assert set(doc) == {"format", "version", "fps", "channels", "frames", "duration"}
    assert doc["format"] == "talkbridge.curves" and doc["version"] == 1
    assert doc["fps"] == 60 and isinstance(doc["fps"], int)
    assert doc["channels"] == list(rig.ARKIT52 + rig.VISEME_CHANNELS)
    assert len(doc["frames"]) == 6 and all(len(f) == 67 for f in doc["frames"])
    assert doc["duration"] == pytest.approx(0.1)
    for k, row in enumerate(doc["frames"]):
        for c, name in enumerate(doc["channels"]):
            expected = round(float(frames[k, rig.CHANNEL_INDEX[name]]), 4)
            assert row[c] == pytest.approx(expected, abs=1e-12), (k, name)
            assert len(repr(row[c]).split(".")[-1]) <= 4  # really rounded, not float noise


def test_json_round_trip(tmp_path):
    path = tmp_path / "curves.json"
    frames = make_frames(7)
    write_json(path, frames, 50, duration=0.15)
    got, fps, channels, duration = read_json(path)
    assert fps == 50 and duration == pytest.approx(0.15)
    assert channels == rig.ARKIT52 + rig.VISEME_CHANNELS
    assert got.shape == (7, 67)
    np.testing.assert_allclose(got, rig.select(frames, channels), atol=5.1e-5)


def test_json_channels_can_be_asked_for_by_set_and_name(tmp_path):
    frames = make_frames(2)
    doc = curves_document(frames, 30, channels=["arkit52", "head", "viseme_aa"])
    assert doc["channels"] == list(rig.ARKIT52 + rig.HEAD + ("viseme_aa",))
    assert doc["frames"][1][52] == round(float(frames[1, rig.CHANNEL_INDEX["headYaw"]]), 4)
    with pytest.raises(ValueError):
        curves_document(frames, 30, channels=["noSuchChannel"])


def test_read_json_refuses_other_documents(tmp_path):
    good = curves_document(make_frames(1), 60)
    cases = {
        "other.json": dict(good, format="something.else"),
        "future.json": dict(good, version=2),
    }
    for name, doc in cases.items():
        (tmp_path / name).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError, match="format"):
        read_json(tmp_path / "other.json")
    with pytest.raises(ValueError, match="version"):
        read_json(tmp_path / "future.json")
    ragged = json.dumps(dict(good, frames=[[0.0, 1.0]]))
    (tmp_path / "ragged.json").write_text(ragged, encoding="utf-8")
    with pytest.raises(ValueError, match="channels"):
        read_json(tmp_path / "ragged.json")


def test_empty_json_round_trip(tmp_path):
    path = tmp_path / "empty.json"
    write_json(path, np.zeros((0, len(rig.ALL_CHANNELS))), 60)
    got, fps, channels, duration = read_json(path)
    assert got.shape == (0, 67) and duration == 0.0 and fps == 60


# --------------------------------------------------------------------------- dispatch, input checks


def test_write_curves_dispatches_by_extension(tmp_path):
    frames = make_frames(3)
    write_curves(tmp_path / "a.json", frames, 60, duration=0.05)
    write_curves(tmp_path / "b.CSV", frames, 60)
    assert json.loads((tmp_path / "a.json").read_text())["duration"] == pytest.approx(0.05)
    assert read_csv(tmp_path / "b.CSV")[0] == REAL_TAKE_HEADER
    assert SUPPORTED_EXTENSIONS == (".json", ".csv", ".a2f.json", ".gltf", ".glb")


@pytest.mark.parametrize("name", ["speech.wav", "curves.txt", "noext"])
def test_write_curves_names_supported_extensions_on_unknown(tmp_path, name):
    with pytest.raises(ValueError, match=r"\.json.*\.csv"):
        write_curves(tmp_path / name, make_frames(1), 60)
    assert not (tmp_path / name).exists()


def test_bad_frames_and_fps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="74"):
        write_livelink_csv(tmp_path / "x.csv", np.zeros((3, 52)), 60)
    bad = make_frames(2)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_json(tmp_path / "x.json", bad, 60)
    with pytest.raises(ValueError, match="fps"):
        livelink_csv_rows(make_frames(2), 0)
