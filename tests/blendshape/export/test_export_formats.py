"""Audio2Face JSON and glTF exports, read back with independent readers.

``.a2f.json`` is read with the json module; ``.gltf``/``.glb`` with ``pygltflib`` (and the
GLB container with ``struct``, byte by byte). When Node.js and the Khronos glTF validator
(npm ``gltf-validator``) are available, every glTF file must also validate with zero
errors and zero warnings: set ``GLTF_VALIDATOR_NODE_PATH`` to the ``node_modules`` folder
that holds it (``npm install gltf-validator`` in any directory), or install it where
``node`` resolves it; the test is skipped otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from blendshape import rig
from blendshape.export.a2f import a2f_document, write_a2f_json
from blendshape.export.files import SUPPORTED_EXTENSIONS, curves_format, write_curves
from blendshape.export.gltf import glb_bytes, gltf_document

# facsNames of an Audio2Face ARKit export, in the exporter's order (a template copied from
# a real export), written out here rather than taken from the module under test.
A2F_FACS_NAMES = [
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
]

FLOAT, UNSIGNED_SHORT = 5126, 5123
COMPONENTS = {"SCALAR": 1, "VEC3": 3}
DTYPES = {FLOAT: np.dtype("<f4"), UNSIGNED_SHORT: np.dtype("<u2")}


def make_frames(n: int = 45, seed: int = 7) -> np.ndarray:
    """Full frames with distinct values in every column (ARKit in 0..1, rotations signed)."""
    rng = np.random.default_rng(seed)
    full = rng.random((n, len(rig.ALL_CHANNELS))).astype(np.float32)
    for name in rig.ROTATION_CHANNELS:
        full[:, rig.CHANNEL_INDEX[name]] -= 0.5
    full[0, :52] = 0.0  # a rest frame
    full[-1, rig.ARKIT_INDEX["jawOpen"]] = 1.0
    return full


# --------------------------------------------------------------------------- Audio2Face JSON


def test_a2f_json_layout_and_values(tmp_path):
    frames = make_frames()
    path = tmp_path / "take.a2f.json"
    write_curves(path, frames, 60, duration=0.9, track_path="C:\\takes\\hello.wav")
    doc = json.loads(path.read_text(encoding="utf-8"))

    assert list(doc)[:6] == [
        "exportFps", "trackPath", "numPoses", "numFrames", "facsNames", "weightMat",
    ]
    assert doc["exportFps"] == 60 and type(doc["exportFps"]) is int
    assert doc["trackPath"] == "C:\\takes\\hello.wav"
    assert doc["numPoses"] == 52 and type(doc["numPoses"]) is int
    assert doc["numFrames"] == len(frames) and type(doc["numFrames"]) is int
    assert doc["facsNames"] == A2F_FACS_NAMES
    weights = np.array(doc["weightMat"], dtype=np.float64)
    assert weights.shape == (doc["numFrames"], doc["numPoses"])
    assert all(len(row) == 52 and all(type(v) is float for v in row) for row in doc["weightMat"])
    # Values are the frames' ARKit columns (by name), to the 6 decimals written.
    want = frames[:, [rig.CHANNEL_INDEX[n] for n in A2F_FACS_NAMES]].astype(np.float64)
    np.testing.assert_allclose(weights, want, rtol=0, atol=5e-7 + 1e-9)
    assert weights[-1, A2F_FACS_NAMES.index("jawOpen")] == 1.0
    # The (empty) joint block that newer readers index per frame.
    assert doc["joints"] == []
    assert len(doc["rotations"]) == len(doc["translations"]) == len(frames)


def test_a2f_json_readers_idioms_work(tmp_path):
    """What the public readers do: key frame ``fr`` of pose ``facsNames[i]`` by index."""
    frames = make_frames(5)
    path = tmp_path / "x.a2f.json"
    write_a2f_json(path, frames, 30)
    data = json.loads(path.read_text())
    keys = [
        (data["facsNames"][i], fr, data["weightMat"][fr][i])
        for fr in range(data["numFrames"])
        for i in range(data["numPoses"])
    ]
    assert len(keys) == 5 * 52 and isinstance(data["trackPath"], str)
    assert data["exportFps"] == 30


def test_a2f_fractional_fps_and_empty_take():
    doc = a2f_document(make_frames(3), 29.97)
    assert doc["exportFps"] == 29.97
    empty = a2f_document(np.zeros((0, len(rig.ALL_CHANNELS))), 60)
    assert empty["numFrames"] == 0 and empty["weightMat"] == [] and empty["rotations"] == []


def test_a2f_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="74"):
        write_a2f_json(tmp_path / "x.a2f.json", np.zeros((3, 52)), 60)
    with pytest.raises(ValueError, match="fps"):
        write_a2f_json(tmp_path / "x.a2f.json", make_frames(2), 0)


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    "name, fmt",
    [("a.json", ".json"), ("b.CSV", ".csv"), ("c.a2f.json", ".a2f.json"),
     ("d.A2F.JSON", ".a2f.json"), ("e.gltf", ".gltf"), ("f.GLB", ".glb"),
     ("take.a2f.backup.json", ".json")],
)
def test_double_extension_wins_over_json(name, fmt):
    assert curves_format(name) == fmt


def test_supported_extensions_and_error_message(tmp_path):
    assert set(SUPPORTED_EXTENSIONS) == {".json", ".csv", ".a2f.json", ".gltf", ".glb"}
    with pytest.raises(ValueError, match=r"\.a2f\.json.*\.gltf.*\.glb"):
        write_curves(tmp_path / "x.fbx", make_frames(2), 60)
    assert not (tmp_path / "x.fbx").exists()


def test_dispatch_writes_each_new_format(tmp_path):
    frames = make_frames(4)
    for name in ("w.a2f.json", "w.gltf", "w.glb"):
        write_curves(tmp_path / name, frames, 60, duration=1.0)
    assert "weightMat" in json.loads((tmp_path / "w.a2f.json").read_text())
    assert (tmp_path / "w.glb").read_bytes()[:4] == b"glTF"
    assert json.loads((tmp_path / "w.gltf").read_text())["asset"]["version"] == "2.0"


# --------------------------------------------------------------------------- glTF via pygltflib


def load_gltf(path):
    """pygltflib's document and its one buffer's bytes (GLB chunk or data URI)."""
    import pygltflib  # a dev dependency: the independent glTF reader
    gltf = pygltflib.GLTF2().load(str(path))
    if str(path).endswith(".gltf"):
        gltf.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    return gltf, gltf.binary_blob()


def read_accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    width = COMPONENTS[acc.type]
    dtype = DTYPES[acc.componentType]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    assert view.byteStride in (None, width * dtype.itemsize)
    assert start + acc.count * width * dtype.itemsize <= view.byteOffset + view.byteLength
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start)
    return data.reshape(acc.count, width)


@pytest.fixture(params=[".gltf", ".glb"])
def written(request, tmp_path):
    frames = make_frames()
    path = tmp_path / f"face{request.param}"
    write_curves(path, frames, 30)
    return path, frames, 30


def test_gltf_mesh_carries_52_named_targets(written):
    path, _, _ = written
    gltf, blob = load_gltf(path)
    assert gltf.asset.version == "2.0"
    assert len(gltf.meshes) == 1 and len(gltf.nodes) == 1 and gltf.nodes[0].mesh == 0
    assert gltf.scenes[gltf.scene].nodes == [0]
    mesh = gltf.meshes[0]
    assert mesh.extras["targetNames"] == A2F_FACS_NAMES
    assert mesh.weights == [0.0] * 52
    (prim,) = mesh.primitives
    assert prim.mode in (None, 4)
    positions_acc = gltf.accessors[prim.attributes.POSITION]
    positions = read_accessor(gltf, blob, prim.attributes.POSITION)
    assert positions_acc.type == "VEC3" and positions_acc.componentType == FLOAT
    assert positions_acc.min == positions.min(axis=0).tolist()
    assert positions_acc.max == positions.max(axis=0).tolist()
    indices = read_accessor(gltf, blob, prim.indices).ravel()
    assert gltf.accessors[prim.indices].componentType == UNSIGNED_SHORT
    assert len(indices) % 3 == 0 and len(indices) >= 3 and indices.max() < len(positions)

    assert len(prim.targets) == 52
    displacements = []
    for target in prim.targets:
        acc = gltf.accessors[target["POSITION"]]
        values = read_accessor(gltf, blob, target["POSITION"])
        assert acc.type == "VEC3" and acc.componentType == FLOAT
        assert acc.count == positions_acc.count
        assert acc.min == values.min(axis=0).tolist() and acc.max == values.max(axis=0).tolist()
        assert np.abs(values).max() > 1e-3  # visibly moves something
        displacements.append(values)
    flat = np.stack(displacements).reshape(52, -1)
    for i in range(52):  # no two targets alike
        others = np.delete(flat, i, axis=0)
        assert np.abs(others - flat[i]).max(axis=1).min() > 1e-4


def test_gltf_animation_is_the_frames_arkit_columns(written):
    path, frames, fps = written
    gltf, blob = load_gltf(path)
    (anim,) = gltf.animations
    (channel,) = anim.channels
    assert channel.target.node == 0 and channel.target.path == "weights"
    sampler = anim.samplers[channel.sampler]
    assert sampler.interpolation == "LINEAR"

    t_acc = gltf.accessors[sampler.input]
    times = read_accessor(gltf, blob, sampler.input).ravel()
    assert t_acc.type == "SCALAR" and t_acc.componentType == FLOAT and t_acc.count == len(frames)
    want_times = (np.arange(len(frames)) / fps).astype(np.float32)
    np.testing.assert_array_equal(times, want_times)
    assert t_acc.min == [0.0] and t_acc.max == [float(want_times[-1])]
    assert np.all(np.diff(times) > 0)

    w_acc = gltf.accessors[sampler.output]
    assert w_acc.type == "SCALAR" and w_acc.componentType == FLOAT
    assert w_acc.count == len(frames) * 52
    weights = read_accessor(gltf, blob, sampler.output).reshape(len(frames), 52)
    want = frames[:, [rig.CHANNEL_INDEX[n] for n in A2F_FACS_NAMES]].astype(np.float32)
    np.testing.assert_array_equal(weights, want)
    for view in gltf.bufferViews:
        assert (view.byteOffset or 0) % 4 == 0


def test_gltf_is_one_file_with_a_data_uri(tmp_path):
    path = tmp_path / "one.gltf"
    write_curves(path, make_frames(3), 60)
    doc = json.loads(path.read_text(encoding="utf-8"))
    (buffer,) = doc["buffers"]
    prefix = "data:application/octet-stream;base64,"
    assert buffer["uri"].startswith(prefix)
    assert len(base64.b64decode(buffer["uri"][len(prefix):])) == buffer["byteLength"]
    assert os.listdir(tmp_path) == ["one.gltf"]


def test_glb_container_byte_layout(tmp_path):
    path = tmp_path / "face.glb"
    write_curves(path, make_frames(7), 24)
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data)) and length % 4 == 0
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    text = data[20:20 + json_len]
    doc = json.loads(text.decode("utf-8"))
    stripped = text.rstrip(b" ")
    assert len(text) - len(stripped) < 4 and stripped.endswith(b"}")
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == 0x004E4942 and bin_len % 4 == 0
    assert 20 + json_len + 8 + bin_len == len(data)
    (buffer,) = doc["buffers"]
    assert "uri" not in buffer and bin_len - 3 <= buffer["byteLength"] <= bin_len
    blob = data[28 + json_len:]
    assert blob[buffer["byteLength"]:] == b"\0" * (bin_len - buffer["byteLength"])


def test_glb_padding_with_odd_lengths():
    doc = {"asset": {"version": "2.0"}, "buffers": [{"byteLength": 5}]}
    out = glb_bytes(doc, b"\x01\x02\x03\x04\x05")
    json_len = struct.unpack_from("<I", out, 12)[0]
    assert out[20 + json_len - 1:20 + json_len] in (b" ", b"}")
    assert out.endswith(b"\x05\0\0\0") and len(out) % 4 == 0


@pytest.mark.parametrize("ext", [".gltf", ".glb"])
def test_empty_take_is_a_valid_asset_without_animation(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    write_curves(path, np.zeros((0, len(rig.ALL_CHANNELS))), 60)
    gltf, _ = load_gltf(path)
    assert not gltf.animations
    assert gltf.meshes[0].extras["targetNames"] == A2F_FACS_NAMES


def test_gltf_document_refuses_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        bad = make_frames(2)
        bad[1, 0] = np.nan
        gltf_document(bad, 60)


# --------------------------------------------------------------------------- Khronos validator

VALIDATE_JS = r"""
const fs = require('fs');
const validator = require('gltf-validator');
(async () => {
  const out = [];
  for (const f of process.argv.slice(2)) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(f)),
                                                 {uri: f, maxIssues: 0});
    out.push({file: f, issues: report.issues, info: report.info});
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(2); });
"""


def _validator_env() -> dict | None:
    node = shutil.which("node")
    if node is None:
        return None
    env = dict(os.environ)
    extra = os.environ.get("GLTF_VALIDATOR_NODE_PATH")
    if extra:
        env["NODE_PATH"] = os.pathsep.join(filter(None, [extra, env.get("NODE_PATH")]))
    probe = subprocess.run([node, "-e", "require.resolve('gltf-validator')"], env=env,
                           capture_output=True, timeout=30)
    return env if probe.returncode == 0 else None


def test_khronos_validator_reports_no_errors_or_warnings(tmp_path):
    env = _validator_env()
    if env is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install the Khronos glTF validator (.ci/run: npm install gltf-validator)")
        pytest.skip("node + npm gltf-validator not found (set GLTF_VALIDATOR_NODE_PATH)")
    files = []
    for name, n in (("face.gltf", 45), ("face.glb", 45), ("one.glb", 1), ("empty.glb", 0)):
        write_curves(tmp_path / name, make_frames(max(n, 1))[:n], 30)
        files.append(str(tmp_path / name))
    script = tmp_path / "validate.js"
    script.write_text(VALIDATE_JS)
    run = subprocess.run([shutil.which("node"), str(script), *files], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for report in json.loads(run.stdout):
        issues = report["issues"]
        assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, (
            report["file"], issues["messages"])
        if not report["file"].endswith("empty.glb"):
            assert report["info"]["animationCount"] == 1
        assert report["info"]["hasMorphTargets"] is True
