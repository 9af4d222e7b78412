"""Curves to glTF 2.0 (``.gltf`` / ``.glb``): a small face whose 52 ARKit morph targets move.

The asset is one mesh on one node with one animation, built from numpy and the standard
library alone (glTF 2.0 specification, Khronos):

* **Geometry** -- a gently domed grid (``GRID_COLUMNS`` x ``GRID_ROWS`` vertices, facing +Z,
  +Y up, the subject's left on +X) with ``uint16`` triangle indices. It only has to be a
  valid, visible surface: the point of the file is the named shape-key animation.
* **Morph targets** -- 52, in ``rig.ARKIT52`` order, each a ``POSITION`` displacement
  accessor (``VEC3`` ``float32`` with ``min``/``max``, as the spec requires for
  ``POSITION``): a Gaussian bump at the face region the name suggests (eyes, brows,
  cheeks, nose, jaw, mouth), moved in the direction the name suggests, scaled a little
  per target so that no two targets are equal. Their names go in
  ``mesh.extras.targetNames``, the convention Blender's importer (and three.js) read to
  name shape keys; ``mesh.weights`` holds the 52 defaults (0).
* **Animation** -- one sampler, ``LINEAR``, whose input is the frame times ``k / fps``
  (``SCALAR`` ``float32`` with ``min``/``max``, required for sampler inputs) and whose
  output is ``numFrames x 52`` weights (``SCALAR`` ``float32``, frame-major as the spec
  lays out morph-weight outputs); one channel targets the node's ``weights`` path. A take
  with no frames has no animation (an accessor may not be empty).
* **Containers** -- ``.glb``: the 12-byte header (``glTF``, version 2, total length), a
  JSON chunk padded with spaces, a BIN chunk padded with zeros, every chunk and buffer view
  4-byte aligned. ``.gltf``: the same JSON with the buffer embedded as a base64
  ``data:application/octet-stream`` URI, so the export stays a single file.
"""

from __future__ import annotations

import base64
import json
import struct

import numpy as np

from blendshape import rig
from blendshape.export.frames import PathLike, check_fps, check_full_frames

GRID_COLUMNS = 11
GRID_ROWS = 13
#: Half width and half height of the face grid, in metres (glTF's unit).
FACE_HALF_SIZE = (0.08, 0.1)
#: Peak displacement of a morph target, in metres: visible on a 16 x 20 cm face.
TARGET_AMPLITUDE = 0.012

GENERATOR = "talkbridge blendshape.export.gltf"
FLOAT, UNSIGNED_SHORT = 5126, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
GLB_MAGIC, GLB_VERSION = 0x46546C67, 2
CHUNK_JSON, CHUNK_BIN = 0x4E4F534A, 0x004E4942

# --------------------------------------------------------------------------- geometry


def face_mesh() -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` float32 and triangle indices ``(3T,)`` uint16 of the face grid."""
    hx, hy = FACE_HALF_SIZE
    xs = np.linspace(-hx, hx, GRID_COLUMNS)
    ys = np.linspace(-hy, hy, GRID_ROWS)
    x, y = np.meshgrid(xs, ys)  # row r = one y, column c = one x
    z = 0.03 * (1 - (x / hx) ** 2) * (1 - (y / hy) ** 2)
    positions = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)
    r, c = np.meshgrid(np.arange(GRID_ROWS - 1), np.arange(GRID_COLUMNS - 1), indexing="ij")
    a = (r * GRID_COLUMNS + c).ravel()
    b, d = a + 1, a + GRID_COLUMNS
    # Counter-clockwise seen from +Z, so the front faces the viewer.
    tris = np.stack([a, b, d + 1, a, d + 1, d], axis=-1).reshape(-1)
    return positions, tris.astype(np.uint16)


#: Face regions as (name prefix, centre x, centre y) in units of the half size.
_REGIONS = (
    ("eye", 0.45, 0.3), ("browInner", 0.0, 0.6), ("brow", 0.45, 0.6),
    ("cheekPuff", 0.0, -0.2), ("cheek", 0.55, -0.1), ("nose", 0.15, 0.05),
    ("jaw", 0.0, -0.8), ("tongue", 0.0, -0.6), ("mouth", 0.2, -0.45),
)
#: Name keywords and their unit direction (x toward the subject's left); first match wins.
_DIRECTIONS = (
    ("Close", (0, 0, -1)), ("Press", (0, 0, -1)), ("Roll", (0, 0, -1)),
    ("LookIn", (-1, 0, 0)), ("LookOut", (1, 0, 0)), ("LookDown", (0, -1, 0.5)),
    ("LookUp", (0, 1, 0.5)), ("Blink", (0, -1, 0)), ("Wide", (0, 1, 0)),
    ("Squint", (0, 1, -0.5)), ("Down", (0, -1, 0)), ("Frown", (0, -1, 0)),
    ("jawOpen", (0, -1, 0)), ("Up", (0, 1, 0)), ("Smile", (0.5, 1, 0)), ("Sneer", (0, 1, 0.5)),
    ("Shrug", (0, 1, 0.5)), ("Stretch", (1, 0, 0)), ("Dimple", (1, 0, -1)),
    ("Funnel", (0, -0.5, 1)),
)


def _target_shape(name: str) -> tuple[float, float, np.ndarray]:
    """Centre (x, y), in half sizes, and unit direction of the bump for one ARKit name."""
    cx, cy = next((x, y) for prefix, x, y in _REGIONS if name.startswith(prefix))
    side = 1.0 if name.endswith("Left") else -1.0 if name.endswith("Right") else 0.0
    if name in ("jawLeft", "jawRight", "mouthLeft", "mouthRight"):
        cx, direction = 0.0, (1.0, 0.0, 0.0)  # the whole jaw or mouth slides sideways
    else:
        direction = next((d for key, d in _DIRECTIONS if key in name), (0.0, 0.0, 1.0))
    if "Lower" in name:
        cy -= 0.12
    elif "Upper" in name:
        cy += 0.12
    vec = np.array(direction, dtype=np.float64)
    vec[0] *= side or 1.0  # "in", "out" and sideways are mirrored on the right side
    return side * cx, cy, vec / np.linalg.norm(vec)


def morph_displacements(positions: np.ndarray) -> np.ndarray:
    """``(52, V, 3)`` float32 displacements, one distinct bump per ARKit name."""
    hx, hy = FACE_HALF_SIZE
    u, v = positions[:, 0] / hx, positions[:, 1] / hy
    out = np.empty((len(rig.ARKIT52),) + positions.shape, dtype=np.float32)
    for i, name in enumerate(rig.ARKIT52):
        cx, cy, vec = _target_shape(name)
        bump = np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (2 * 0.25**2))
        scale = TARGET_AMPLITUDE * (1.0 + i / 100.0)
        out[i] = (scale * bump[:, None] * vec[None, :]).astype(np.float32)
    return out


# --------------------------------------------------------------------------- buffer + accessors


class _Buffer:
    """One binary buffer, its views and accessors; every view starts 4-byte aligned."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, kind: str, target: int | None = None,
            bounds: bool = False) -> int:
        """Append ``array`` as a new view and accessor; returns the accessor index."""
        arr = np.ascontiguousarray(array)
        component = {np.dtype(np.float32): FLOAT, np.dtype(np.uint16): UNSIGNED_SHORT}[arr.dtype]
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": arr.nbytes}
        if target is not None:
            view["target"] = target
        self.data += arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        self.data += b"\0" * (-len(self.data) % 4)
        self.views.append(view)
        rows = arr.reshape(len(arr), -1)
        accessor = {"bufferView": len(self.views) - 1, "componentType": component,
                    "count": int(rows.shape[0]), "type": kind}
        if bounds:
            accessor["min"] = [_number(v) for v in rows.min(axis=0)]
            accessor["max"] = [_number(v) for v in rows.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _number(value) -> int | float:
    """A float32 or uint16 as the JSON number of exactly that value (no -0.0)."""
    return int(value) if np.issubdtype(type(value), np.integer) else float(value) + 0.0


# --------------------------------------------------------------------------- document


def gltf_document(frames: np.ndarray, fps: float) -> tuple[dict, bytes]:
    """The glTF JSON (buffer without ``uri``) and its binary buffer, for full frames."""
    fps = check_fps(fps)
    arr = check_full_frames(frames)
    positions, indices = face_mesh()
    buf = _Buffer()
    position = buf.add(positions, "VEC3", ARRAY_BUFFER, bounds=True)
    index = buf.add(indices, "SCALAR", ELEMENT_ARRAY_BUFFER, bounds=True)
    targets = [{"POSITION": buf.add(d, "VEC3", ARRAY_BUFFER, bounds=True)}
               for d in morph_displacements(positions)]
    mesh = {
        "name": "talkbridge_face",
        "primitives": [{"attributes": {"POSITION": position}, "indices": index, "mode": 4,
                        "targets": targets}],
        "weights": [0.0] * len(rig.ARKIT52),
        "extras": {"targetNames": list(rig.ARKIT52)},
    }
    doc: dict = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"name": "talkbridge", "nodes": [0]}],
        "nodes": [{"name": "talkbridge_face", "mesh": 0}],
        "meshes": [mesh],
    }
    if arr.shape[0]:
        doc["animations"] = [_weights_animation(buf, arr, fps)]
    doc.update(accessors=buf.accessors, bufferViews=buf.views,
               buffers=[{"byteLength": len(buf.data)}])
    return doc, bytes(buf.data)


def _weights_animation(buf: _Buffer, arr: np.ndarray, fps: float) -> dict:
    times = (np.arange(arr.shape[0], dtype=np.float64) / fps).astype(np.float32)
    weights = rig.select(arr, rig.ARKIT52).astype(np.float32).reshape(-1)
    sampler = {"input": buf.add(times, "SCALAR", bounds=True),
               "output": buf.add(weights, "SCALAR"), "interpolation": "LINEAR"}
    channel = {"sampler": 0, "target": {"node": 0, "path": "weights"}}
    return {"name": "talkbridge_curves", "samplers": [sampler], "channels": [channel]}


# --------------------------------------------------------------------------- containers


def _json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


def glb_bytes(doc: dict, blob: bytes) -> bytes:
    """A GLB container: header, JSON chunk (space padded), BIN chunk (zero padded)."""
    text = _json_bytes(doc)
    text += b" " * (-len(text) % 4)
    blob = blob + b"\0" * (-len(blob) % 4)
    chunks = struct.pack("<II", len(text), CHUNK_JSON) + text
    if blob:
        chunks += struct.pack("<II", len(blob), CHUNK_BIN) + blob
    return struct.pack("<III", GLB_MAGIC, GLB_VERSION, 12 + len(chunks)) + chunks


def write_glb(path: PathLike, frames: np.ndarray, fps: float) -> None:
    """Write a binary glTF (``.glb``)."""
    doc, blob = gltf_document(frames, fps)
    with open(path, "wb") as fh:
        fh.write(glb_bytes(doc, blob))


def write_gltf(path: PathLike, frames: np.ndarray, fps: float) -> None:
    """Write a ``.gltf`` whose buffer is embedded as a base64 data URI (one file)."""
    doc, blob = gltf_document(frames, fps)
    encoded = base64.b64encode(blob).decode("ascii")
    doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + encoded
    with open(path, "wb") as fh:
        fh.write(_json_bytes(doc) + b"\n")


__all__ = [
    "GRID_COLUMNS",
    "GRID_ROWS",
    "face_mesh",
    "glb_bytes",
    "gltf_document",
    "morph_displacements",
    "write_glb",
    "write_gltf",
]
